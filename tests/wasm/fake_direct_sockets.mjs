// A scripted Direct Sockets stand-in for the bridge's failure-injection unit
// tests (test-only; real traffic goes through node/direct-sockets.js or the
// browser). Each constructor records its options in `log` and asks `script`
// what to do:
//
//   script.udpOpened(opts, sock)   -> info | Promise (reject to inject a failure)
//   script.tcpOpened(remoteAddress, remotePort, opts, sock)
//   script.serverOpened(localAddress, opts, sock)
//   script.onWrite(chunk, sock)    -> undefined | Promise (reject: write error; never resolve: stuck writer);
//                                     `chunk` is the copy taken at dispatch (sock.writes has them all)
//
// The default UDP info has a readable the test feeds with `sock.deliver(...)`.

export function domError(name, message) {
  return new DOMException(message, name);
}

export function createFakeDirectSockets(script = {}) {
  const log = [];
  const sockets = [];

  function makeReadable(sock) {
    return new ReadableStream({
      start(controller) { sock.controller = controller; },
      cancel() { sock.readCancelled = true; },
    }, { highWaterMark: 0 });
  }

  // Microtask checkpoints between the program's writes: the first write after a checkpoint
  // queues a microtask that advances `turn` when it runs. Writes stamped with the same turn
  // were made with no microtask run in between, i.e. without the wasm program suspending
  // (every JSPI stack switch runs the microtask queue).
  let turn = 0;
  let turnQueued = false;
  function stampTurn() {
    if (!turnQueued) {
      turnQueued = true;
      queueMicrotask(() => { turnQueued = false; turn++; });
    }
    return turn;
  }

  // Chromium takes a chunk's bytes when it dispatches the write (its IPC call copies them) and
  // settles the write later: the fake records that copy, and counts a chunk whose bytes changed
  // before its write settled (the sender reused the buffer too soon).
  const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  function makeWritable(sock) {
    const ws = new WritableStream({
      write(chunk) {
        const live = chunk && ArrayBuffer.isView(chunk.data) ? chunk.data : null;
        const taken = live ? { ...chunk, data: new Uint8Array(live) } : chunk;
        if (live) sock.writeBuffers.add(live.buffer);
        sock.writes.push(taken);
        const check = () => { if (live && !sameBytes(live, taken.data)) sock.changedBeforeSettled++; };
        const r = script.onWrite ? script.onWrite(taken, sock) : undefined;
        if (r && typeof r.then === 'function') return r.then((v) => { check(); return v; });
        check();
        return r;
      },
      close() { sock.writerClosed = true; },
    });
    // The stream calls write() above once the previous write settled (a microtask later),
    // so the turn is taken where the bridge hands the chunk over: writer.write().
    const getWriter = ws.getWriter.bind(ws);
    ws.getWriter = () => {
      const writer = getWriter();
      const write = writer.write.bind(writer);
      writer.write = (chunk) => { sock.writeTurns.push(stampTurn()); return write(chunk); };
      return writer;
    };
    return ws;
  }

  class FakeBase {
    constructor(kind) {
      this.kind = kind;
      this.writes = [];
      this.writeBuffers = new Set();
      this.changedBeforeSettled = 0;
      this.writeTurns = [];
      this.closeCalls = 0;
      this.readCancelled = false;
      this.writerClosed = false;
      sockets.push(this);
    }
    deliver(value) { this.controller.enqueue(value); }
    end() { this.controller.close(); }
    fail(err) { this.controller.error(err); }
    close() { this.closeCalls++; return Promise.resolve(); }
  }

  class UDPSocket extends FakeBase {
    constructor(opts = {}) {
      super('udp');
      this.options = opts;
      log.push({ ctor: 'UDPSocket', opts });
      const info = () => ({
        readable: makeReadable(this),
        writable: makeWritable(this),
        localAddress: opts.localAddress || '0.0.0.0',
        localPort: opts.localPort || 40000 + sockets.length,
        remoteAddress: opts.remoteAddress,
        remotePort: opts.remotePort,
        multicastController: {
          joinedGroups: [],
          joinGroup(g) { this.joinedGroups.push(g); return Promise.resolve(); },
          leaveGroup(g) { this.joinedGroups = this.joinedGroups.filter((x) => x !== g); return Promise.resolve(); },
        },
      });
      this.opened = Promise.resolve().then(() => (script.udpOpened ? script.udpOpened(opts, this, info) : info()));
      this.opened.catch(() => {});
    }
  }

  class TCPSocket extends FakeBase {
    constructor(remoteAddress, remotePort, opts = {}) {
      super('tcp');
      this.options = opts;
      log.push({ ctor: 'TCPSocket', remoteAddress, remotePort, opts });
      const info = () => ({
        readable: makeReadable(this),
        writable: makeWritable(this),
        remoteAddress, remotePort, localAddress: '127.0.0.1', localPort: 50000 + sockets.length,
      });
      this.opened = Promise.resolve().then(() => (script.tcpOpened ? script.tcpOpened(remoteAddress, remotePort, opts, this, info) : info()));
      this.opened.catch(() => {});
    }
  }

  class TCPServerSocket extends FakeBase {
    constructor(localAddress, opts = {}) {
      super('server');
      log.push({ ctor: 'TCPServerSocket', localAddress, opts });
      const info = () => ({ readable: makeReadable(this), localAddress, localPort: opts.localPort || 45000 });
      this.opened = Promise.resolve().then(() => (script.serverOpened ? script.serverOpened(localAddress, opts, this, info) : info()));
      this.opened.catch(() => {});
    }
  }

  return {
    UDPSocket, TCPSocket, TCPServerSocket, log, sockets,
    install(target = globalThis) {
      const saved = {};
      for (const k of ['UDPSocket', 'TCPSocket', 'TCPServerSocket']) { saved[k] = target[k]; target[k] = this[k]; }
      return () => { for (const k of Object.keys(saved)) { if (saved[k] === undefined) delete target[k]; else target[k] = saved[k]; } };
    },
  };
}
