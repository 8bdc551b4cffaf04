/** The tenant model: its types, the one schema, validation, loading and lookups. */
export type * from './types.js';
export type { PolicyError, PolicyResult } from './errors.js';
export { formatErrors } from './errors.js';
export { PolicySchema } from './schema.js';
export { parsePolicy, policyOrThrow } from './validate.js';
export { loadPolicyFile, parsePolicyText } from './load.js';
export { deriveIfname } from './names.js';
export { aclByName, gatewayOf, hostOf, interfacesInSubnet, interfacesOnHost, subnetByVsid, subnetOf, vnetOf } from './lookup.js';
export { figure8Policy, FIGURE8_YAML } from './figure8.js';
