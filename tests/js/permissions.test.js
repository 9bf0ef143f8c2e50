// SocketIWA.permissions and assertPermissions: reports, and errors that name
// the missing feature and the manifest field granting it.
import './helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SocketIWA from '../../api/direct_sockets_api.js';

test('permissions report Direct Sockets present under Node (no policy: null)', async () => {
  assert.equal(SocketIWA.permissions.directSockets, true);
  assert.equal(SocketIWA.permissions.tcpServer, true);
  assert.equal(SocketIWA.permissions.multicast, true);
  assert.equal(SocketIWA.permissions.policy.directSockets, null);
  const report = await SocketIWA.assertPermissions({ multicast: true, tcpServer: true, localNetwork: true });
  assert.equal(report.runtime, 'node');
});

test('missing Direct Sockets: ENOTSUP naming direct-sockets and the manifest field', async (t) => {
  const saved = { UDPSocket: globalThis.UDPSocket, TCPSocket: globalThis.TCPSocket };
  t.after(() => Object.assign(globalThis, saved));
  delete globalThis.UDPSocket;
  assert.equal(SocketIWA.permissions.directSockets, false);
  await assert.rejects(SocketIWA.assertPermissions(), (e) => e.code === 'ENOTSUP' && e.feature === 'direct-sockets' &&
    /permissions_policy/.test(e.message) && /manifest\.webmanifest/.test(e.message));
  await assert.rejects(SocketIWA.createUDP({ localAddress: '127.0.0.1' }), (e) => e.code === 'ENOTSUP');
});

test('policy blocking multicast: EACCES naming direct-sockets-multicast', async (t) => {
  // A document whose permissions policy denies multicast (as a browser reports it).
  globalThis.document = { permissionsPolicy: { allowsFeature: (f) => f !== 'direct-sockets-multicast' } };
  t.after(() => { delete globalThis.document; });
  assert.equal(SocketIWA.permissions.multicast, false);
  assert.equal(SocketIWA.permissions.policy.multicast, false);
  await SocketIWA.assertPermissions({ tcpServer: true }); // allowed
  await assert.rejects(SocketIWA.assertPermissions({ multicast: true }), (e) =>
    e.code === 'EACCES' && e.feature === 'direct-sockets-multicast' &&
    e.manifestField === 'permissions_policy["direct-sockets-multicast"]' &&
    /"direct-sockets-multicast": \["self"\]/.test(e.message));
});

test('NotAllowedError from Direct Sockets surfaces with code EACCES', async (t) => {
  const Real = globalThis.TCPSocket;
  globalThis.TCPSocket = class { constructor() { this.opened = Promise.reject(new DOMException('Access to local network is blocked', 'NotAllowedError')); this.opened.catch(() => {}); } };
  t.after(() => { globalThis.TCPSocket = Real; });
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', 80), (e) => e.code === 'EACCES' && e.cause.name === 'NotAllowedError' && /local network/.test(e.message));
});
