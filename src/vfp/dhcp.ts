/**
 * DHCP from policy (HNV): the server's side of a conversation with one Dynamic port, decided from
 * the snapshot alone. The port's address is fixed by policy, so there is no pool and no lease
 * state: every DISCOVER is offered the port's CA, a REQUEST for it is acknowledged and one for any
 * other address refused (NAK), an INFORM gets the configuration without an address, and RELEASE
 * and DECLINE need no answer (nothing to free; a DECLINE means the CA is in use elsewhere in the
 * namespace, which the tenant must sort out). A REQUEST naming another server is not ours to
 * answer. The server identifier is the subnet's gateway (the distributed router's address).
 */
import { DHCPACK, DHCPDECLINE, DHCPDISCOVER, DHCPINFORM, DHCPNAK, DHCPOFFER, DHCPRELEASE, DHCPREQUEST, type DhcpMessage, type DhcpReplyFields } from '../wire/dhcp.js';
import type { PortInfo } from './snapshot.js';

/** Lease seconds handed out (renewal at half, rebinding at 7/8): the address never changes, so
 * the lease only bounds how long a removed port's namespace keeps using it. */
export const DHCP_LEASE_SECS = 3600;

/** dhcpAnswer: the message needs no answer. */
export const DHCP_NO_ANSWER = 0;

/**
 * Fills `r` with the answer of port X's server to message `m` and returns its type (DHCPOFFER,
 * DHCPACK, DHCPNAK) or DHCP_NO_ANSWER. `m.chaddr` must be X's MAC (checked by the caller).
 */
export function dhcpAnswer(m: DhcpMessage, X: PortInfo, r: DhcpReplyFields): number {
  let type: number;
  let yiaddr = X.ip;
  let lease = DHCP_LEASE_SECS;
  switch (m.type) {
    case DHCPDISCOVER:
      type = DHCPOFFER;
      break;
    case DHCPREQUEST: {
      if (m.serverId !== 0 && m.serverId !== X.gateway) return DHCP_NO_ANSWER;
      // SELECTING / INIT-REBOOT name the address in option 50; RENEWING / REBINDING in ciaddr
      const asked = m.requestedIp !== 0 ? m.requestedIp : m.ciaddr;
      type = asked === X.ip ? DHCPACK : DHCPNAK;
      break;
    }
    case DHCPINFORM:
      type = DHCPACK;
      yiaddr = 0;
      lease = 0;
      break;
    case DHCPRELEASE:
    case DHCPDECLINE:
    default:
      return DHCP_NO_ANSWER;
  }
  r.type = type;
  r.yiaddr = type === DHCPNAK ? 0 : yiaddr;
  r.leaseSecs = type === DHCPNAK ? 0 : lease;
  return type;
}

/** The fixed part of port X's answers (what does not depend on the request). */
export function dhcpReplyBase(X: PortInfo, routerMac: number): DhcpReplyFields {
  return {
    type: 0,
    yiaddr: 0,
    serverMac: routerMac,
    serverId: X.gateway,
    clientMac: X.mac,
    leaseSecs: 0,
    mask: X.prefixLen === 0 ? 0 : (0xffffffff << (32 - X.prefixLen)) >>> 0,
    router: X.gateway,
    mtu: X.mtu,
    dns: X.dnsServers,
  };
}
