// Which neighbour entries the NVGRE TX ring may send to (io/nvgre-tx-ring.ts neighbourUse): never
// one without a unicast MAC, and a not freshly confirmed one only with the kernel re-confirming it.
import { describe, expect, it } from 'vitest';
import { neighbourUse } from '../../src/io/nvgre-tx-ring.js';
import { nvgreTxRingDefault } from '../../src/agent/uplinks.js';

const MAC = new Uint8Array([0x02, 0, 0, 0, 0, 1]);

describe('neighbourUse', () => {
  it('takes REACHABLE, PERMANENT and NOARP entries as fresh', () => {
    expect(neighbourUse(0x02, MAC)).toBe('fresh');
    expect(neighbourUse(0x80, MAC)).toBe('fresh');
    expect(neighbourUse(0x40, MAC)).toBe('fresh');
  });
  it('takes STALE, DELAY and PROBE as stale (sent to, with a raw batch to re-confirm)', () => {
    expect(neighbourUse(0x04, MAC)).toBe('stale');
    expect(neighbourUse(0x08, MAC)).toBe('stale');
    expect(neighbourUse(0x10, MAC)).toBe('stale');
  });
  it('refuses INCOMPLETE, FAILED, no entry, and a MAC that is not unicast', () => {
    expect(neighbourUse(0x01, MAC)).toBe('none');
    expect(neighbourUse(0x20, MAC)).toBe('none');
    expect(neighbourUse(0, MAC)).toBe('none');
    expect(neighbourUse(0x02, null)).toBe('none');
    expect(neighbourUse(0x02, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe('none');
    expect(neighbourUse(0x02, new Uint8Array(6))).toBe('none');
    expect(neighbourUse(0x80, new Uint8Array(5))).toBe('none');
  });
});

describe('SWITCHYARD_NVGRE_TX_RING', () => {
  it('chooses the ring with 1 or ring, sendmmsg with mmsg, the raw socket with 0', () => {
    expect(nvgreTxRingDefault({ SWITCHYARD_NVGRE_TX_RING: '1' })).toBe('ring');
    expect(nvgreTxRingDefault({ SWITCHYARD_NVGRE_TX_RING: 'ring' })).toBe('ring');
    expect(nvgreTxRingDefault({ SWITCHYARD_NVGRE_TX_RING: 'mmsg' })).toBe('mmsg');
    expect(nvgreTxRingDefault({ SWITCHYARD_NVGRE_TX_RING: '0' })).toBeUndefined();
  });
});
