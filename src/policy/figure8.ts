/**
 * The reference topology (Figure 8 of the HNV overview), embedded so the demo runs with no file.
 * `examples/figure8.yaml` holds the same text (a unit test keeps them identical).
 */
import { parsePolicyText } from './load.js';
import type { Policy } from './types.js';

export const FIGURE8_YAML = `
# Figure 8 of the HNV overview: Contoso and Fabrikam each run SQL at 10.1.1.11 and Web at
# 10.1.1.12 (the same customer addresses), SQL on host1 and Web on host2. The two virtual
# networks are separate routing domains (VSIDs 5001 and 6001), so the same CAs never meet.
hosts:
  - name: host1
    providerAddresses: [192.168.1.10]
  - name: host2
    providerAddresses: [192.168.2.20]

virtualNetworks:
  - name: contoso
    addressPrefixes: [10.1.0.0/16]
    subnets:
      - name: s1
        vsid: 5001
        addressPrefix: 10.1.1.0/24
        encapsulation: vxlan
  - name: fabrikam
    addressPrefixes: [10.1.0.0/16]
    subnets:
      - name: s1
        vsid: 6001
        addressPrefix: 10.1.1.0/24
        encapsulation: vxlan

networkInterfaces:
  - name: contoso-sql
    host: host1
    virtualNetwork: contoso
    subnet: s1
    macAddress: "02:00:00:00:50:11"
    ipAddress: 10.1.1.11
    netns: contoso-sql
  - name: contoso-web
    host: host2
    virtualNetwork: contoso
    subnet: s1
    macAddress: "02:00:00:00:50:12"
    ipAddress: 10.1.1.12
    netns: contoso-web
  - name: fabrikam-sql
    host: host1
    virtualNetwork: fabrikam
    subnet: s1
    macAddress: "02:00:00:00:60:11"
    ipAddress: 10.1.1.11
    netns: fabrikam-sql
  - name: fabrikam-web
    host: host2
    virtualNetwork: fabrikam
    subnet: s1
    macAddress: "02:00:00:00:60:12"
    ipAddress: 10.1.1.12
    netns: fabrikam-web
`.slice(1);

/** A fresh copy of the Figure 8 policy (validated; throws only if the embedded text is broken). */
export function figure8Policy(): Policy {
  const result = parsePolicyText(FIGURE8_YAML);
  if (!result.ok) throw new Error(`embedded figure8 policy is invalid: ${result.errors[0]?.message}`);
  return result.policy;
}
