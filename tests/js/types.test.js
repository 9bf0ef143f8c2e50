// The TypeScript declarations (api/direct_sockets_api.d.ts) match the
// implementation: every declared export / member exists at runtime on real
// objects, and every public runtime export / member is declared.
import { waitFor } from './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import * as api from '../../api/direct_sockets_api.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dts = fs.readFileSync(path.join(here, '..', '..', 'api', 'direct_sockets_api.d.ts'), 'utf8');

function block(kind, name) {
  const re = new RegExp(`^(?:export )?(?:declare )?${kind} ${name}\\b[^{]*\\{\\n([\\s\\S]*?)^\\}`, 'm');
  const m = re.exec(dts);
  assert.ok(m, `${kind} ${name} declared`);
  return m[1];
}

function members(body) {
  const out = new Map();
  for (const line of body.split('\n')) {
    const m = /^  (?:readonly )?([A-Za-z_$][\w$]*)(\?)?\s*(<[^(]*>)?\s*([(:])/.exec(line);
    if (!m || m[1] === 'constructor') continue;
    if (/^  private constructor/.test(line)) continue;
    out.set(m[1], { optional: !!m[2], method: m[4] === '(' });
  }
  return out;
}

function runtimeMembers(obj, stopAt) {
  const names = new Set();
  for (let p = Object.getPrototypeOf(obj); p && p !== stopAt && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) if (n !== 'constructor' && !n.startsWith('_')) names.add(n);
  }
  for (const n of Object.keys(obj)) if (!n.startsWith('_')) names.add(n);
  return names;
}

test('declared exports == runtime exports', () => {
  const declared = new Set([...dts.matchAll(/^export declare (?:class|function|const) ([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]));
  const runtime = new Set(Object.keys(api).filter((k) => k !== 'default'));
  assert.deepEqual([...declared].sort(), [...runtime].sort());
  for (const name of declared) {
    const kind = new RegExp(`^export declare (class|function|const) ${name}\\b`, 'm').exec(dts)[1];
    if (kind === 'class' || kind === 'function') assert.equal(typeof api[name], 'function', `${name} is a ${kind}`);
  }
});

test('default export (SocketIWA) keys == SocketIWANamespace interface', () => {
  const declared = [...members(block('interface', 'SocketIWANamespace')).keys()].sort();
  assert.deepEqual(declared, Object.keys(api.default).sort());
});

test('permissions object == Permissions interface', () => {
  const declared = [...members(block('interface', 'Permissions')).keys()].sort();
  assert.deepEqual(declared, Object.keys(api.permissions).sort());
});

test('class members: declared ⇔ runtime, on real instances', async () => {
  const emitterDecl = members(block('class', 'Emitter'));
  const instances = {};
  const server = await api.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
  const serverSocketP = new Promise((r) => server.once('connection', r));
  instances.TCPServer = server;
  instances.SocketIOClient = await api.createTCP('127.0.0.1', server.port, { protocol: 'socket.io' });
  instances.ServerSocket = await serverSocketP;
  instances.Namespace = server.of('/x');
  const wsServer = await api.createTCPServer('127.0.0.1', { protocol: 'websocket' });
  instances.WebSocketConnection = await api.createTCP('127.0.0.1', wsServer.port, { protocol: 'websocket' });
  const rawServer = await api.createTCPServer('127.0.0.1', { protocol: 'raw' });
  instances.RawTCPConnection = await api.createTCP('127.0.0.1', rawServer.port);
  instances.UDPConnection = await api.createUDP({ localAddress: '127.0.0.1' });
  instances.SocketIWAError = new api.SocketIWAError('X', 'y');
  instances.Emitter = new api.Emitter();
  try {
    for (const [cls, obj] of Object.entries(instances)) {
      assert.ok(obj instanceof api[cls], `${cls} instance`);
      const declared = members(block('class', cls));
      const inherited = cls !== 'Emitter' && cls !== 'SocketIWAError' ? emitterDecl : new Map();
      for (const [name, info] of declared) {
        if (info.optional) continue;
        assert.ok(name in obj, `${cls}.${name} declared but missing at runtime`);
        if (info.method) assert.equal(typeof obj[name], 'function', `${cls}.${name} is a method`);
      }
      const stop = cls === 'SocketIWAError' ? Error.prototype : null;
      for (const name of runtimeMembers(obj, stop)) {
        if (cls === 'SocketIWAError' && ['name', 'message', 'stack'].includes(name)) continue;
        assert.ok(declared.has(name) || inherited.has(name), `${cls}.${name} exists at runtime but is not declared in the .d.ts`);
      }
    }
  } finally {
    instances.SocketIOClient.disconnect();
    instances.WebSocketConnection.close();
    await waitFor(instances.WebSocketConnection, 'close');
    await instances.RawTCPConnection.close();
    await instances.UDPConnection.close();
    await Promise.all([server.close(), wsServer.close(), rawServer.close()]);
  }
});

const tsc = path.join(here, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');
const tscArgs = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', '--skipLibCheck'];

test('tsc --strict accepts the declarations, the README usage and typed-event / socket-iwa/node consumers', () => {
  assert.ok(fs.existsSync(tsc), 'typescript is installed (devDependency)');
  let output = '';
  try {
    output = execFileSync(process.execPath, [tsc, ...tscArgs, path.join(here, 'types_usage.ts'), path.join(here, 'types_events.ts')],
      { encoding: 'utf8', timeout: 60000 });
  } catch (err) {
    assert.fail(`tsc failed:\n${err.stdout || ''}${err.stderr || ''}`);
  }
  assert.equal(output.trim(), '');
});

test('tsc --strict rejects misspelled event payloads: an error on exactly the marked lines of types_misuse.ts', () => {
  const file = path.join(here, 'types_misuse.ts');
  const marked = fs.readFileSync(file, 'utf8').split('\n').flatMap((l, i) => (/\/\/ error:/.test(l) ? [i + 1] : []));
  assert.ok(marked.length >= 8);
  let out = '';
  try {
    execFileSync(process.execPath, [tsc, ...tscArgs, '--pretty', 'false', file], { encoding: 'utf8', timeout: 60000 });
    assert.fail('types_misuse.ts compiled');
  } catch (err) {
    if (err.code === 'ERR_ASSERTION') throw err;
    out = `${err.stdout || ''}${err.stderr || ''}`;
  }
  const lines = [...new Set([...out.matchAll(/types_misuse\.ts\((\d+),\d+\): error TS\d+/g)].map((m) => Number(m[1])))].sort((a, b) => a - b);
  assert.deepEqual(lines, marked, `tsc output:\n${out}`);
});

test('event maps: no `any` in a documented event handler (only the Socket.IO maps have an index signature, for a peer\'s own events)', () => {
  const resp = fs.readFileSync(path.join(here, '..', '..', 'api', 'resp.d.ts'), 'utf8');
  const maps = ['UDPEvents', 'RawTCPEvents', 'WebSocketEvents', 'SocketIOClientEvents', 'ServerSocketEvents', 'NamespaceEvents',
    'TCPServerEvents', 'Http3ServerEvents'].map((name) => [name, dts]).concat([['RedisClientEvents', resp]]);
  for (const [name, text] of maps) {
    const m = new RegExp(`^export interface ${name}\\b[^{]*\\{\\n([\\s\\S]*?)^\\}`, 'm').exec(text);
    assert.ok(m, `${name} declared`);
    const events = m[1].split('\n').filter((l) => /^  [a-z_]+\(/.test(l));
    assert.ok(events.length >= 2, `${name}: events found`);
    for (const line of events) assert.doesNotMatch(line, /\bany\b/, `${name}: ${line.trim()}`);
    const index = m[1].split('\n').filter((l) => /^  \[/.test(l));
    assert.ok(index.every((l) => /^  \[event: string\]: \(\.\.\.args: any\[\]\) => void;$/.test(l)), `${name}: ${index}`);
    if (index.length) assert.ok(['SocketIOClientEvents', 'ServerSocketEvents'].includes(name), `${name} has an index signature`);
  }
});

test('socket-iwa/node declarations match node/direct-sockets.js (exports and class members)', async () => {
  const nodeApi = await import('../../node/direct-sockets.js');
  const ndts = fs.readFileSync(path.join(here, '..', '..', 'node', 'direct-sockets.d.ts'), 'utf8');
  const declared = new Set([...ndts.matchAll(/^export declare (?:class|function|const) ([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]));
  assert.deepEqual([...declared].sort(), Object.keys(nodeApi).filter((k) => k !== 'default').sort());
  assert.deepEqual(Object.keys(nodeApi.default).sort(), ['MulticastController', 'TCPServerSocket', 'TCPSocket', 'UDPSocket', 'install']);
  for (const cls of ['UDPSocket', 'TCPSocket', 'TCPServerSocket', 'MulticastController']) {
    const m = new RegExp(`^export declare class ${cls} \\{\\n([\\s\\S]*?)^\\}`, 'm').exec(ndts);
    assert.ok(m, `${cls} declared`);
    const names = [...m[1].matchAll(/^  (?:static )?(?:readonly )?([A-Za-z_$][\w$]*)\s*[(:<]/gm)].map((x) => x[1]).filter((n) => n !== 'constructor');
    const runtime = new Set([...Object.getOwnPropertyNames(nodeApi[cls].prototype), ...Object.getOwnPropertyNames(nodeApi[cls])]
      .filter((n) => !['constructor', 'length', 'name', 'prototype'].includes(n)));
    assert.deepEqual(names.sort(), [...runtime].sort(), cls);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(here, '..', '..', 'package.json'), 'utf8'));
  assert.equal(pkg.exports['./node'].types, './node/direct-sockets.d.ts');
  assert.equal(pkg.exports['.'].types, './api/direct_sockets_api.d.ts');
});
