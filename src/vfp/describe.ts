/** Action records in words, for dump-flows and trace. Off the fast path. */
import { A_DROP, A_PORT, ENCAP_NVGRE, type ActionTable } from './actions.js';
import { ipText, macText } from './layers/ctx.js';
import type { Snapshot } from './snapshot.js';

export { macText };

/** One line describing action record `i`. */
export function describeAction(a: ActionTable, i: number, snap: Snapshot, dropNames: readonly string[]): string {
  const route = a.route[i] ? `set dst ${macText(a.dstMac[i])} src ${macText(a.srcMac[i])}, ttl-1, ` : '';
  switch (a.kind[i]) {
    case A_DROP:
      return `drop (${dropNames[a.drop[i]]})`;
    case A_PORT:
      return `${route}output ${snap.portById[a.port[i]]?.name ?? `port#${a.port[i]}`}`;
    default: {
      const kind = a.encap[i] === ENCAP_NVGRE ? 'nvgre' : 'vxlan';
      const id = a.encap[i] === ENCAP_NVGRE ? `key ${a.vni[i]}<<8|${a.flowId[i] < 0 ? 'hash' : a.flowId[i]}` : `vni ${a.vni[i]}`;
      return `${route}encap ${kind} ${id} ${ipText(a.srcPa[i])} -> ${ipText(a.dstPa[i])}`;
    }
  }
}
