#!/usr/bin/env node
// The `switchyard` command: the compiled CLI in dist/ (built by `make build`).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('switchyard: not built yet; run `make build` first');
    process.exit(2);
  }
  throw err;
});
