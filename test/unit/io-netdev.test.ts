// Device configuration through `ip`: the read-only calls and the error mapping, which need no
// root (nothing here changes the machine).
import { describe, expect, it } from 'vitest';
import { getMtu, ip, linkDelete, linkExists, linkShow, netnsDelete, NetdevError } from '../../src/io/netdev.js';

describe('netdev', () => {
  it('finds devices and their MTU by name or by address', async () => {
    expect(await linkExists('lo')).toBe(true);
    expect(await linkExists('sy-no-such0')).toBe(false);
    const lo = await getMtu('lo');
    expect(lo).toBeGreaterThan(0);
    expect(await getMtu('127.0.0.1')).toBe(lo);
    expect((await linkShow('lo')).ifname).toBe('lo');
  });

  it('fails with a NetdevError that names the command and carries a code', async () => {
    const err = await getMtu('sy-no-such0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetdevError);
    expect(err).toMatchObject({ code: 'ENODEV' });
    expect((err as Error).message).toContain('ip -j link show dev sy-no-such0');
    await expect(getMtu('192.0.2.77')).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
    await expect(linkExists('lo', 'sy-no-such-ns')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(ip(['link', 'frobnicate'])).rejects.toBeInstanceOf(NetdevError);
  });

  it('ifExists turns a missing device or namespace into a no-op', async () => {
    await expect(linkDelete('sy-no-such0', undefined, true)).resolves.toBeUndefined();
    await expect(netnsDelete('sy-no-such-ns', true)).resolves.toBeUndefined();
  });
});
