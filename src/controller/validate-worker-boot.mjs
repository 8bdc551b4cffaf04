// Loads validate-worker.ts under tsx, for piscina workers started from the TypeScript sources
// (tests, `node --import tsx`); the built dist/ starts validate-worker.js directly.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./validate-worker.ts');
export default worker.default;
