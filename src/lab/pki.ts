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

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Make ca.crt/ca.key and NAME.crt/NAME.key in `dir`; `names` are IPs and DNS names for the SAN. */
export function makeTestPki(dir: string, names: string[] = ['127.0.0.1', 'localhost'], name = 'controller'): TestPki {
  const caCert = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  openssl(['req', '-x509', ...EC, '-keyout', caKey, '-out', caCert, '-days', '2', '-subj', '/CN=switchyard test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  chmodSync(caKey, 0o600);
  const { cert, key } = issueCertificate({ caCert, caKey }, dir, names, name);
  return { caCert, caKey, cert, key };
}

/** One more certificate from the same CA (NAME.crt/NAME.key in `dir`), e.g. a client's or a second server's. */
export function issueCertificate(ca: Pick<TestPki, 'caCert' | 'caKey'>, dir: string, names: string[], name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const csr = path.join(dir, `${name}.csr`);
  openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${names[0] ?? name}`, '-addext', `subjectAltName=${san}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.caCert, '-CAkey', ca.caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-copy_extensions', 'copy'], dir);
  chmodSync(key, 0o600);
  return { cert, key };
}
