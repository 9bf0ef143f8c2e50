// Checks an `npm pack --json` listing against package.json: everything a user
// needs is in the tarball (every `exports`/`types` target, the wasm and its
// license texts, README, LICENSE, the wolfSSL GPL notice) and nothing from the
// build tree (Rust, tests, CI, scripts, iwa/ build tools).
//   node check_tarball.mjs PACK.json package.json
import fs from 'node:fs';

const [packJson, pkgJson] = process.argv.slice(2);
const pack = JSON.parse(fs.readFileSync(packJson, 'utf8'))[0];
const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8'));
const files = new Set(pack.files.map((f) => f.path));
const problems = [];

if (pkg.private) problems.push('package.json is private: npm publish would refuse it');
if (!pkg.scripts || !/build-wasm\.sh/.test(pkg.scripts.prepack || '')) problems.push('no prepack that builds the wasm');

const targets = [];
const walk = (v, where) => {
  if (typeof v === 'string') targets.push([where, v]);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${where} ${k}`);
};
walk(pkg.exports, 'exports');
walk(pkg.types, 'types');
for (const [where, t] of targets) {
  if (!files.has(t.replace(/^\.\//, ''))) problems.push(`package.json ${where} -> ${t}: not in the tarball`);
}
for (const spec of ['.', './node']) {
  const e = pkg.exports && pkg.exports[spec];
  if (!e || typeof e !== 'object' || !e.types) problems.push(`exports["${spec}"] has no types`);
}

const required = ['README.md', 'LICENSE', 'WOLFSSL-GPL-NOTICE.md', 'package.json',
  'dist/wasm/socket-iwa-server.js', 'dist/wasm/socket_iwa_server.wasm',
  'dist/wasm/socket-iwa-client.js', 'dist/wasm/socket_iwa_client.wasm',
  'dist/wasm/licenses/wolfssl-COPYING', 'dist/wasm/licenses/ngtcp2-COPYING', 'dist/wasm/licenses/nghttp3-COPYING',
  'emscripten/run-node.mjs', 'node/direct-sockets.js'];
for (const f of required) if (!files.has(f)) problems.push(`missing ${f}`);

// Only these top-level places may appear.
const allowed = [/^api\/[^/]+\.(js|d\.ts)$/, /^node\//, /^dist\/wasm\//, /^emscripten\/run-node\.mjs$/,
  /^(README\.md|LICENSE|WOLFSSL-GPL-NOTICE\.md|package\.json)$/];
for (const f of files) {
  if (!allowed.some((re) => re.test(f))) problems.push(`unexpected file in the tarball: ${f}`);
  if (/\.(rs|toml|py|sh)$|(^|\/)tests?\/|make-icon/.test(f)) problems.push(`build or test file in the tarball: ${f}`);
}
// The wasm is GPL through wolfSSL: the license field has to say so.
if (!/GPL-3\.0-or-later/.test(pkg.license || '')) problems.push(`license "${pkg.license}" does not name GPL-3.0-or-later (the .wasm links wolfSSL)`);

if (problems.length) {
  for (const p of problems) console.error(`check_tarball: ${p}`);
  process.exit(1);
}
console.log(`check_tarball: ${files.size} files, ${pack.size} bytes packed, ${pack.unpackedSize} unpacked`);
