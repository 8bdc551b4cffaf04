// The layering of DESIGN.md as rules: imports only point down
//   cli > lab, vms > controller, vtep > agent > dataplane > vfp > policy > io > wire
// Layers on one line are siblings: neither imports the other (lab/vms: the namespace lab and the
// VM harness, libraries for the commands, tests and benches; policy/io). wire/ and vfp/ stay pure:
// no node: built-ins with side effects (fs, net, child_process, worker_threads...). bench/ sits on
// top beside cli; test/ is imported by nothing in src/ or bench/ (frame builders that benches
// share with tests live in src/wire/build/).
const layers = [['cli'], ['lab', 'vms'], ['controller', 'vtep'], ['agent'], ['dataplane'], ['vfp'], ['policy', 'io'], ['wire']];
const forbidden = [];
layers.forEach((group, i) => {
  const above = layers.slice(0, i).flat();
  for (const layer of group) {
    const siblings = group.filter((l) => l !== layer);
    const banned = [...above, ...siblings];
    forbidden.push({
      name: `${layer}-imports-down-only`,
      comment: `src/${layer} may not import from a layer above it or beside it (${banned.join(', ') || 'none'})`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: `^src/(${banned.join('|') || '__none__'})/` },
    });
  }
});
forbidden.push(
  {
    name: 'src-no-bench',
    comment: 'bench/ is on top: nothing in src/ imports it',
    severity: 'error',
    from: { path: '^src/' },
    to: { path: '^bench/' },
  },
  {
    name: 'no-test-imports',
    comment: 'test/ is imported by tests only: src/ and bench/ take shared helpers from src/ (e.g. src/wire/build/)',
    severity: 'error',
    from: { path: '^(src|bench)/' },
    to: { path: '^test/' },
  },
  {
    name: 'src-only-known-layers',
    comment: 'every module under src/ belongs to a layer of the list above (add a new folder to it)',
    severity: 'error',
    from: { path: '^src/', pathNot: `^src/(${layers.flat().join('|')})/` },
    to: {},
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
