// The etcd store over TLS with a client certificate and etcd's own authentication (issue 20):
// a real etcd started here with certificates made by the test (openssl), auth enabled with a
// root password; the store connects with the CA, the client certificate and the user file, and is
// refused without the certificate or with a wrong password. The flags' combinations are checked
// without an etcd.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { etcdOptions, openStore } from '../../src/controller/open-store.js';
import { issueCertificate, makeTestPki } from '../../src/lab/pki.js';
import { haveEtcd, startEtcd } from '../helpers/etcd.js';
import type { EtcdCluster } from '../helpers/etcd.js';
import { requires } from '../helpers/prerequisites.js';
import { tempDir } from './controller-fixture.js';

const ETCD = requires(haveEtcd, 'etcd is not installed (Debian etcd-server)');

let etcd: EtcdCluster | undefined;
let tmp: ReturnType<typeof tempDir>;

beforeEach(() => {
  tmp = tempDir();
});

afterEach(async () => {
  await etcd?.stop();
  etcd = undefined;
  tmp.cleanup();
});

describe('etcd access options', () => {
  it('refuse combinations that cannot work, with the flag to fix', async () => {
    const file = path.join(tmp.dir, 'f');
    writeFileSync(file, 'x');
    await expect(etcdOptions('etcd://127.0.0.1:2379', { ca: file })).rejects.toThrow(/etcds:\/\//);
    await expect(etcdOptions('etcds://127.0.0.1:2379', { ca: file, cert: file })).rejects.toThrow(/both --etcd-cert FILE and --etcd-key FILE/);
    await expect(etcdOptions('etcds://127.0.0.1:2379', { cert: file, key: file })).rejects.toThrow(/--etcd-ca FILE/);
    await expect(etcdOptions('etcds://127.0.0.1:2379', { ca: path.join(tmp.dir, 'missing') })).rejects.toThrow(/cannot read the etcd CA/);
    writeFileSync(file, 'no-colon\n');
    await expect(etcdOptions('etcd://127.0.0.1:2379', { userFile: file })).rejects.toThrow(/USER:PASSWORD/);
    writeFileSync(file, 'root:pa:ss\nignored\n');
    expect((await etcdOptions('etcd://127.0.0.1:2379', { userFile: file })).auth).toEqual({ username: 'root', password: 'pa:ss' });
    await expect(openStore(path.join(tmp.dir, 'store.db'), { userFile: file })).rejects.toThrow(/need an etcd/);
  });
});

describe('etcd store over TLS with authentication', ETCD, () => {
  it('connects with the CA, a client certificate and a password; refused without them', async () => {
    const pki = makeTestPki(tmp.dir, ['127.0.0.1'], 'etcd');
    const client = issueCertificate(pki, tmp.dir, ['switchyard-controller'], 'client');
    etcd = await startEtcd(1, { cert: pki.cert, key: pki.key, ca: pki.caCert, clientCa: pki.caCert, client });
    const etcdctl = (...args: string[]): string =>
      execFileSync('etcdctl', ['--endpoints', etcd!.urls[0] as string, '--cacert', pki.caCert, '--cert', client.cert, '--key', client.key, ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    etcdctl('user', 'add', 'root', '--new-user-password', 'sekrit-pw');
    etcdctl('user', 'grant-role', 'root', 'root');
    etcdctl('auth', 'enable');
    const userFile = path.join(tmp.dir, 'etcd.user');
    writeFileSync(userFile, 'root:sekrit-pw\n', { mode: 0o600 });
    const access = { ca: pki.caCert, cert: client.cert, key: client.key, userFile };

    const store = await openStore(etcd.spec, access);
    try {
      const written = await store.put('hosts', 'h1', { name: 'h1', providerAddresses: ['192.168.1.1'] });
      expect(store.get('hosts', 'h1')?.resource).toEqual({ name: 'h1', providerAddresses: ['192.168.1.1'] });
      expect(store.revision()).toBe(written.revision);
    } finally {
      await store.close();
    }
    // what etcd holds is only readable with the password
    expect(() => etcdctl('get', '--prefix', '/switchyard/v1/')).toThrow();
    expect(etcdctl('--user', 'root:sekrit-pw', 'get', '--prefix', '--keys-only', '/switchyard/v1/')).toContain('/switchyard/v1/resources/hosts/h1');

    const wrong = path.join(tmp.dir, 'wrong.user');
    writeFileSync(wrong, 'root:not-it\n');
    await expect(openStore(etcd.spec, { ...access, userFile: wrong })).rejects.toThrow(/etcd https:\/\/127\.0\.0\.1:\d+: .*auth/i);
    // no client certificate: the TLS handshake is refused
    await expect(openStore(etcd.spec, { ca: pki.caCert, userFile })).rejects.toThrow(/etcd https:\/\/127\.0\.0\.1:\d+: /);
  }, 60_000);
});
