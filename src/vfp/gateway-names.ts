/**
 * Names of a virtual network's HNV gateway that the compile (snapshot.ts) and the layers
 * (layers/hnv-gateway.ts) share: the gateway vNIC's MAC and its port's name.
 */

/** The gateway vNIC's MAC of virtual network `vn`: locally administered, the same on every host
 * (the sending host addresses it, the gateway host's vnet-in recognises it). */
export function gatewayMac(vn: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < vn.length; i++) h = Math.imul(h ^ vn.charCodeAt(i), 0x01000193) >>> 0;
  return 0x027367000000 + (h & 0xffffff);
}

/** The gateway port's name (`ctl ports`, trace, dump-flows). */
export const gatewayPortName = (vn: string): string => `gateway(${vn})`;
