/**
 * A throwaway certificate authority for tests and the lab: a self-signed CA and a controller
 * certificate signed by it for the given IP addresses and DNS names (P-256 keys, valid for two
 * days), made with the openssl command line. Files land in `dir`; keys are mode 0600.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import path from 'node:path';

export interface TestPki {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Make ca.crt/ca.key and NAME.crt/NAME.key in `dir`; `names` are IPs and DNS names for the SAN. */
export function makeTestPki(dir: string, names: string[] = ['127.0.0.1', 'localhost'], name = 'controller'): TestPki {
  const pki: TestPki = {
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    cert: path.join(dir, `${name}.crt`),
    key: path.join(dir, `${name}.key`),
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', pki.caKey, '-out', pki.caCert, '-days', '2', '-subj', '/CN=switchyard test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const csr = path.join(dir, `${name}.csr`);
  openssl(['req', ...ec, '-keyout', pki.key, '-out', csr, '-subj', `/CN=${names[0] ?? name}`, '-addext', `subjectAltName=${san}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial', '-out', pki.cert, '-days', '2', '-copy_extensions', 'copy'], dir);
  chmodSync(pki.key, 0o600);
  chmodSync(pki.caKey, 0o600);
  return pki;
}
