/** `switchyard validate -f file`: every problem of a policy file, one per line. */
import { formatErrors, loadPolicyFile } from '../policy/load.js';

export async function runValidate(file: string): Promise<number> {
  const r = await loadPolicyFile(file);
  if (!r.ok) {
    console.error(`${file}: invalid policy\n${formatErrors(r.errors, { file: file })}`);
    return 2;
  }
  const p = r.policy;
  console.log(
    `${file}: ok (${p.hosts.length} hosts, ${p.virtualNetworks.length} virtual networks, ` +
      `${p.networkInterfaces.length} network interfaces, ${p.accessControlLists.length} ACLs)`,
  );
  return 0;
}
