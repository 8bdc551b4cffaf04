/**
 * The unit suite under another Node version (scripts/node-version.sh installs it): as
 * vitest.config.ts, but `better-sqlite3`, a V8-ABI addon built for the project's own Node, is taken
 * from $SWITCHYARD_OTHER_NODE_MODULES, where it was built for the Node this runs on. Our own addon
 * is Node-API and loads on any version.
 */
import path from 'node:path';
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

const modules = process.env.SWITCHYARD_OTHER_NODE_MODULES;
if (!modules) throw new Error('SWITCHYARD_OTHER_NODE_MODULES is not set: run this through scripts/run-tests.sh');

export default mergeConfig(
  base,
  defineConfig({
    resolve: { alias: { 'better-sqlite3': path.join(modules, 'better-sqlite3') } },
  }),
);
