// The numbers Rust and JavaScript exchange over the wasm bridge are written
// twice: Rust constants in src/app/*.rs (js_wt.rs: EV_* events, CT_* control
// records, ST_* stream records; js_handler.rs: ACT_* response actions) and
// JavaScript constants of the same names in api/*.js (wt_session.js,
// quic_server.js, quic_client.js, quic_streams.js, h3_server.js). Read from
// the source: every JavaScript definition must equal the Rust constant of the
// same name, and every Rust constant must have a JavaScript definition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PREFIXES = ['EV', 'CT', 'ST', 'ACT'];
const NAME = `(?:${PREFIXES.join('|')})_[A-Z0-9_]+`;

/** JavaScript names with these prefixes that have no Rust counterpart, each with its reason. None today. */
const JS_ONLY = new Map([
  // ['EV_EXAMPLE', 'why JavaScript alone uses it'],
]);
/** Rust constants with these prefixes that JavaScript never sees, each with its reason. None today. */
const RUST_ONLY = new Map([
  // ['EV_EXAMPLE', 'why JavaScript needs no copy'],
]);

/** `0x1f`, `1_000`, `7` -> number; anything else (an expression, another name) -> null. */
function literal(text) {
  const t = text.trim().replace(/_/g, '');
  return /^(0x[0-9a-f]+|\d+)$/i.test(t) ? Number(t) : null;
}

function files(dir, ext, recurse) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && recurse) out.push(...files(p, ext, recurse));
    else if (e.isFile() && e.name.endsWith(ext)) out.push(p);
  }
  return out.sort();
}

/** Block comments and `//` comments (a `//` after a quote or colon, as in a URL, is kept). */
function stripComments(src) {
  return src.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|\s)\/\/.*$/gm, '$1');
}

/** Rust: `[pub] const NAME: type = literal;` in src/app/ (any depth) -> Map name -> { value, where }. */
function rustConstants() {
  const out = new Map();
  const unread = [];
  for (const f of files(path.join(root, 'src', 'app'), '.rs', true)) {
    const rel = path.relative(root, f);
    stripComments(fs.readFileSync(f, 'utf8')).split('\n').forEach((line, i) => {
      if (!new RegExp(`\\bconst\\s+${NAME}\\b`).test(line)) return;
      const m = new RegExp(`^\\s*(?:pub(?:\\([^)]*\\))?\\s+)?const\\s+(${NAME})\\s*:\\s*\\w+\\s*=\\s*([^;]+);`).exec(line);
      const value = m && literal(m[2]);
      if (value === null) { unread.push(`${rel}:${i + 1}: ${line.trim()}`); return; }
      const where = `${rel}:${i + 1}`;
      const prev = out.get(m[1]);
      assert.ok(!prev || prev.value === value, `${m[1]} is ${prev?.value} at ${prev?.where} but ${value} at ${where}`);
      if (!prev) out.set(m[1], { value, where });
    });
  }
  assert.deepEqual(unread, [], 'Rust constants this test cannot read (not `const NAME: type = integer;` on one line)');
  return out;
}

/** JavaScript: every `NAME = literal` in api/*.js (const/let/var, comma lists, export) -> [{ name, value, where }]. */
function jsDefinitions() {
  const out = [];
  const unread = [];
  for (const f of files(path.join(root, 'api'), '.js', false)) {
    const rel = path.relative(root, f);
    const src = stripComments(fs.readFileSync(f, 'utf8'));
    // `NAME =` but not `NAME ==`/`===` or `NAME =>`.
    for (const m of src.matchAll(new RegExp(`\\b(${NAME})\\s*=(?![=>])\\s*([^,;\\n]*)`, 'g'))) {
      const where = `${rel}:${src.slice(0, m.index).split('\n').length}`;
      const value = literal(m[2]);
      if (value === null) unread.push(`${where}: ${m[1]} = ${m[2].trim()}`);
      else out.push({ name: m[1], value, where });
    }
  }
  assert.deepEqual(unread, [], 'JavaScript definitions that are not integer literals');
  return out;
}

test('every EV_/CT_/ST_/ACT_ number in api/*.js equals the Rust constant of that name', () => {
  const rust = rustConstants();
  const js = jsDefinitions();
  for (const p of PREFIXES) {
    assert.ok([...rust.keys()].some((n) => n.startsWith(`${p}_`)), `no ${p}_ constant found in src/app/ (did they move?)`);
  }
  assert.ok(js.length > 0, 'no definitions found in api/*.js');
  const mismatched = [];
  const unknown = [];
  for (const d of js) {
    const r = rust.get(d.name);
    if (!r) {
      if (!JS_ONLY.has(d.name)) unknown.push(`${d.where}: ${d.name} (add it to Rust or to JS_ONLY with a reason)`);
    } else if (r.value !== d.value) {
      mismatched.push(`${d.name}: ${d.value} at ${d.where}, ${r.value} at ${r.where}`);
    }
  }
  assert.deepEqual(mismatched, [], 'JavaScript values that differ from Rust');
  assert.deepEqual(unknown, [], 'JavaScript names with no Rust constant');
  for (const name of JS_ONLY.keys()) {
    assert.ok(!rust.has(name), `${name} is listed in JS_ONLY but Rust defines it`);
  }
});

test('every Rust EV_/CT_/ST_/ACT_ constant has a JavaScript definition', () => {
  const rust = rustConstants();
  const inJs = new Set(jsDefinitions().map((d) => d.name));
  const missing = [...rust].filter(([n]) => !inJs.has(n) && !RUST_ONLY.has(n)).map(([n, r]) => `${n} (${r.where})`);
  assert.deepEqual(missing, [], 'Rust constants no api/*.js file defines (define it there, or list it in RUST_ONLY with a reason)');
});
