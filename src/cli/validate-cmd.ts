/** `switchyard validate -f file`: every problem of a policy file, one per line (or JSON with --json). */
import { formatErrors, loadPolicyFile } from '../policy/load.js';

export async function runValidate(file: string, json = false): Promise<number> {
  const r = await loadPolicyFile(file);
  if (!r.ok) {
    if (json) console.log(JSON.stringify({ ok: false, file, errors: r.errors }, null, 2));
    else console.error(`${file}: invalid policy\n${formatErrors(r.errors, { file: file })}`);
    return 2;
  }
  const p = r.policy;
  const counts = { hosts: p.hosts.length, virtualNetworks: p.virtualNetworks.length, networkInterfaces: p.networkInterfaces.length, accessControlLists: p.accessControlLists.length };
  if (json) {
    console.log(JSON.stringify({ ok: true, file, counts }, null, 2));
    return 0;
  }
  console.log(
    `${file}: ok (${counts.hosts} hosts, ${counts.virtualNetworks} virtual networks, ` +
      `${counts.networkInterfaces} network interfaces, ${counts.accessControlLists} ACLs)`,
  );
  return 0;
}
