/**
 * The names and MACs the engine gives a host's own ports (README: "port `vEthernet(<switch>)`",
 * "port `uplink(<switch>)`", "port `gateway(<network>)`", "a MAC derived from host and switch",
 * "a MAC derived from the network's name"). These are identities, not decisions: the generator
 * needs them to send from those ports and the model to recognise them, and neither can learn them
 * from the README alone. Taken from the engine's naming helpers - nothing else in test/reference
 * (beyond driver.ts) reads src/vfp.
 */
import { gatewayMac, gatewayPortName } from '../../src/vfp/gateway-names.js';
import { hostPortName, hostVnicMac, nicPortName } from '../../src/vfp/switch-compile.js';

const text = (m: number): string => m.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');

export const gatewayPort = (vn: string): string => gatewayPortName(vn);
export const gatewayMacNumber = (vn: string): number => gatewayMac(vn);
export const gatewayMacText = (vn: string): string => text(gatewayMac(vn));
export const switchHostPort = (sw: string): string => hostPortName(sw);
export const switchNicPort = (sw: string): string => nicPortName(sw);
/** The host vNIC's MAC of switch `sw` on `host` (one per host: a switch is local to each). */
export const switchHostMacNumber = (host: string, sw: string): number => hostVnicMac(`${host}/${sw}`);
export const switchHostMacText = (host: string, sw: string): string => text(hostVnicMac(`${host}/${sw}`));
