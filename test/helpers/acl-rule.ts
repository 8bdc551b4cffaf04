/** An ACL rule for engine tests: allow everything inbound at priority 1000, unless `o` says otherwise. */
import type { AclRule } from '../../src/policy/types.js';

export const rule = (name: string, o: Partial<AclRule>): AclRule => ({
  name,
  protocol: 'All',
  sourceAddressPrefix: '*',
  destinationAddressPrefix: '*',
  sourcePortRange: '*',
  destinationPortRange: '*',
  action: 'Allow',
  type: 'Inbound',
  priority: 1000,
  ...o,
});
