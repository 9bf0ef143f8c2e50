// Checks docs/direct_sockets_coverage.md against the repository: every test it
// names exists in the file it names (as a test title), every file it names
// exists, and every identifier in its Bridge / Node columns occurs in
// emscripten/src/lib/libdirectsockets.js / node/direct-sockets.js. Also checks
// that each Direct Sockets interface has its section and that a row without a
// test says "none" (and is counted, so gaps stay visible).
//   node tests/npm/coverage_doc.mjs [REPO]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.argv[2] || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const docPath = path.join(root, 'docs/direct_sockets_coverage.md');
const doc = fs.readFileSync(docPath, 'utf8');
const read = (rel) => fs.readFileSync(path.join(root, rel), 'utf8');
const bridge = read('emscripten/src/lib/libdirectsockets.js');
const nodeDS = read('node/direct-sockets.js');
const problems = [];
let rows = 0, tests = 0, untested = 0;

for (const section of ['UDPSocket', 'MulticastController', 'TCPSocket', 'TCPServerSocket', 'Permissions policy']) {
  if (!new RegExp(`^## ${section}`, 'm').test(doc)) problems.push(`no "## ${section}" section`);
}

const unescape = (s) => s.replace(/\\'/g, "'");
// Test titles as written in the file: test('...'), test("..."), test(`...`).
const titlesIn = new Map();
function titles(rel) {
  if (!titlesIn.has(rel)) {
    const text = read(rel);
    const set = new Set();
    for (const m of text.matchAll(/\b(?:test|it)\(\s*(['"`])((?:\\.|(?!\1).)*)\1/g)) set.add(unescape(m[2]));
    titlesIn.set(rel, set);
  }
  return titlesIn.get(rel);
}

const lines = doc.split('\n');
let header = null;
for (const [i, line] of lines.entries()) {
  if (!line.startsWith('|')) { header = null; continue; }
  const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
  if (!header) { header = cells; continue; }
  if (cells.every((c) => /^-+$/.test(c))) continue;
  rows++;
  const where = `docs/direct_sockets_coverage.md:${i + 1}`;
  const col = (name) => cells[header.indexOf(name)] ?? '';
  if (header.indexOf('Tests') < 0) { problems.push(`${where}: table without a Tests column`); continue; }

  // Tests: `file` › "title" entries, or "none".
  const testCell = col('Tests');
  const entries = [...testCell.matchAll(/`([^`]+)`\s*›\s*"([^"]+)"/g)];
  if (entries.length === 0) {
    if (testCell === 'none') untested++;
    else problems.push(`${where}: Tests cell names no \`file\` › "test" and is not "none": ${testCell}`);
  }
  for (const [, file, title] of entries) {
    tests++;
    if (!fs.existsSync(path.join(root, file))) { problems.push(`${where}: test file ${file} does not exist`); continue; }
    if (!titles(file).has(title)) problems.push(`${where}: no test "${title}" in ${file}`);
  }
  // JS API: a file under api/ (or "none").
  for (const [, file] of col('JS API').matchAll(/`([^`]+)`/g)) {
    if (!fs.existsSync(path.join(root, file))) problems.push(`${where}: JS API file ${file} does not exist`);
  }
  // Bridge / Node identifiers must occur in their files. Backticked words only;
  // `new X` means the constructor call.
  for (const [colName, text, file] of [['Bridge', bridge, 'libdirectsockets.js'], ['Node', nodeDS, 'node/direct-sockets.js']]) {
    for (const [, ident] of col(colName).matchAll(/`([^`]+)`/g)) {
      if (!text.includes(ident)) problems.push(`${where}: ${colName} names \`${ident}\`, which is not in ${file}`);
    }
  }
}

if (rows < 20) problems.push(`only ${rows} rows: the tables did not parse`);
if (problems.length) {
  for (const p of problems) console.error(`coverage_doc: ${p}`);
  process.exit(1);
}
console.log(`coverage_doc: ${rows} rows, ${tests} named tests found, ${untested} rows without a test (listed under "Gaps")`);
