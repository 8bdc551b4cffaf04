/**
 * src/wire: packet formats as pure functions over (Uint8Array, offset). Import the modules
 * directly, as namespaces: `import * as ipv4 from '../wire/ipv4.js'; ipv4.ttl(b, off)`.
 */
export {};
