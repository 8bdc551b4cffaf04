// The layering of DESIGN.md as rules: imports only point down
//   cli > controller > agent > dataplane > vfp > policy > io > wire
// (io and policy are siblings: neither imports the other). wire/ and vfp/ stay pure: no node:
// built-ins with side effects (fs, net, child_process, worker_threads...).
const order = ['cli', 'controller', 'agent', 'dataplane', 'vfp', 'policy', 'io', 'wire'];
const above = (layer) => order.slice(0, order.indexOf(layer));
const forbidden = order.map((layer) => ({
  name: `${layer}-imports-down-only`,
  comment: `src/${layer} may not import from a layer above it (${above(layer).join(', ') || 'none'})`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${above(layer).join('|') || '__none__'})/` },
}));
forbidden.push(
  {
    name: 'policy-not-io',
    comment: 'policy/ is the tenant model; it does no device I/O',
    severity: 'error',
    from: { path: '^src/policy/' },
    to: { path: '^src/io/' },
  },
  {
    name: 'pure-wire-vfp',
    comment: 'wire/ and vfp/ are pure: no I/O modules',
    severity: 'error',
    from: { path: '^src/(wire|vfp)/' },
    to: { path: '^(node:)?(fs|net|dgram|child_process|worker_threads|http|https|os|cluster)$', dependencyTypes: ['core'] },
  },
  {
    name: 'no-circular',
    severity: 'error',
    from: {},
    to: { circular: true },
  },
);
module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
