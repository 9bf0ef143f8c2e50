// Certificate and session-ticket-key storage for the JavaScript servers
// (createHttp3Server's `certificate` and `storage` options; docs/JS_SERVERS.md,
// "Certificate and ticket-key storage").
//
// JavaScript owns the storage: the origin private file system (OPFS) in a
// browser (page or dedicated worker), a directory under Node (~/.socket-iwa/ by
// default, files 0600, created directories 0700), or nothing (`storage: false`).
// Before the wasm server starts, the stored files are copied into the module's
// memory file system (MEMFS, under /socket-iwa/) and named with the server's
// usual flags (--cert/--key/--ticket-key); what Rust generates there (a first
// certificate, a new ticket key, a renewed certificate, new anti-replay records)
// is copied back into the storage.
//
// Files (the same names in every backend and in MEMFS):
//   cert.pem           the certificate (PEM); written last, so it marks a complete pair
//   key.pem            its private key (PEM, SEC1 "EC PRIVATE KEY" when generated)
//   ticket.key         48 bytes: session-ticket key name (16) + AES-256-GCM key (32)
//   ticket.key.replay  the 0-RTT anti-replay register (docs/TLS.md, `FILE.replay`)

import { SocketIWAError, argError } from './errors.js';

const isNode = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string';

/** Where the stored files sit in the module's MEMFS. */
export const MEMFS_DIR = '/socket-iwa';
/** Validity of generated certificates, in days (Rust's MAX_GENERATED_DAYS_VALID; docs/JS_SERVERS.md). */
export const CERT_DAYS = 13;
/** Default renewal margin: a day before the certificate expires. */
export const RENEW_BEFORE_MS = 24 * 3600 * 1000;
/** setTimeout's longest delay (2^31 - 1 ms, ~24.8 days). */
const MAX_TIMER_MS = 0x7fffffff;
/** Secret files: refused under Node when group or others may read or write them. */
const SECRET = new Set(['key.pem', 'ticket.key']);

/** In-process lock tails by storage location (Node; browsers use the Web Locks API). */
const localLocks = new Map();

/**
 * Exclusive use of one storage location while a server stages, starts and saves
 * (or saves a renewal), so that two servers starting at once with the same storage
 * do not both generate a certificate and interleave their writes (one's key with
 * the other's certificate): the second waits and then reuses the first's pair.
 * In a browser the Web Locks API makes this hold across the page and its workers;
 * under Node it holds within the process. Resolves to the release function.
 */
function lock(key) {
  if (typeof globalThis.navigator?.locks?.request === 'function') {
    return new Promise((granted, failed) => {
      navigator.locks.request(`socket-iwa-storage:${key}`, () => new Promise((release) => granted(release))).catch(failed);
    });
  }
  const prev = localLocks.get(key) || Promise.resolve();
  let release;
  const mine = new Promise((r) => { release = r; });
  const tail = prev.then(() => mine);
  localLocks.set(key, tail);
  return prev.then(() => () => {
    release();
    if (localLocks.get(key) === tail) localLocks.delete(key);
  });
}

/**
 * fsync, except where the runtime forbids it: Node's permission model disables
 * the fsync API altogether (ERR_ACCESS_DENIED even with --allow-fs-write), and
 * a server that runs under it must still keep its certificate. The rename is
 * still atomic then; only durability across a power cut is the OS's.
 */
async function syncUnlessForbidden(fh) {
  try {
    await fh.sync();
  } catch (e) {
    if (e?.code !== 'ERR_ACCESS_DENIED') throw e;
  }
}

/** Storage in a directory of the local file system (Node). */
class NodeDirStore {
  constructor(dir, fs, path) {
    this.dir = dir;
    this.fs = fs;
    this.path = path;
  }

  where(name) {
    return this.path.join(this.dir, name);
  }

  async open() {
    // recursive: every directory created gets 0700 (an existing one is left as it is).
    await this.fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async read(name) {
    const p = this.where(name);
    let st;
    try {
      st = await this.fs.promises.stat(p);
    } catch (e) {
      if (e.code === 'ENOENT') return null;
      throw new SocketIWAError(e.code || 'ERR_STORAGE', `server storage: cannot read ${p}: ${e.message}`, { cause: e });
    }
    if (SECRET.has(name) && (st.mode & 0o077) !== 0) {
      throw new SocketIWAError('ERR_STORAGE_PERMISSIONS',
        `server storage: ${p} is open to other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it, or delete it to generate a new one`);
    }
    return new Uint8Array(await this.fs.promises.readFile(p));
  }

  /** Atomic replacement: a private temporary file, synced (when allowed), renamed over the old one. */
  async write(name, bytes) {
    const p = this.where(name);
    const tmp = `${p}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    let fh;
    try {
      fh = await this.fs.promises.open(tmp, 'wx', 0o600);
      await fh.writeFile(bytes);
      await syncUnlessForbidden(fh);
      await fh.close();
      fh = null;
      await this.fs.promises.rename(tmp, p);
    } catch (e) {
      if (fh) await fh.close().catch(() => {});
      await this.fs.promises.unlink(tmp).catch(() => {});
      throw new SocketIWAError(e.code || 'ERR_STORAGE', `server storage: cannot write ${p}: ${e.message}`, { cause: e });
    }
  }
}

/** Storage in the origin private file system (a browser page or worker). */
class OpfsStore {
  constructor(segments) {
    this.segments = segments;
    this.handle = null;
  }

  where(name) {
    return `OPFS:/${[...this.segments, name].join('/')}`;
  }

  async open() {
    if (!globalThis.navigator?.storage || typeof navigator.storage.getDirectory !== 'function') {
      throw new SocketIWAError('ENOTSUP', 'server storage: the origin private file system (navigator.storage.getDirectory) is not available here; pass storage: false');
    }
    let h = await navigator.storage.getDirectory();
    for (const s of this.segments) h = await h.getDirectoryHandle(s, { create: true });
    this.handle = h;
  }

  async read(name) {
    let fh;
    try {
      fh = await this.handle.getFileHandle(name);
    } catch (e) {
      if (e && e.name === 'NotFoundError') return null;
      throw new SocketIWAError('ERR_STORAGE', `server storage: cannot read ${this.where(name)}: ${e && e.message}`, { cause: e });
    }
    return new Uint8Array(await (await fh.getFile()).arrayBuffer());
  }

  /** createWritable writes a swap file that replaces the old contents on close (atomic). */
  async write(name, bytes) {
    try {
      const fh = await this.handle.getFileHandle(name, { create: true });
      const w = await fh.createWritable();
      await w.write(bytes);
      await w.close();
    } catch (e) {
      throw new SocketIWAError('ERR_STORAGE', `server storage: cannot write ${this.where(name)}: ${e && e.message}`, { cause: e });
    }
  }
}

function describe(v) {
  return typeof v === 'string' ? JSON.stringify(v) : v === null || typeof v !== 'object' ? String(v) : Object.prototype.toString.call(v);
}

/** Checks the `storage` option (undefined, false, or a directory path string). */
export function validateStorage(storage, who) {
  if (storage === undefined || storage === false) return;
  if (typeof storage !== 'string') {
    throw argError(`${who}: options.storage must be false or a directory path string, got ${describe(storage)}.`, 'ERR_INVALID_ARG_TYPE');
  }
  if (!storage || storage.includes('\0')) throw argError(`${who}: options.storage must be a non-empty directory path, got ${describe(storage)}.`);
}

/** Checks the test-oriented `renewBefore` option (milliseconds before notAfter). */
export function validateRenewBefore(v, who) {
  if (v === undefined) return RENEW_BEFORE_MS;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v >= CERT_DAYS * 24 * 3600 * 1000) {
    throw argError(`${who}: options.renewBefore must be a number of milliseconds in [0, ${CERT_DAYS} days), got ${describe(v)}.`);
  }
  return v;
}

/** The backend for a `storage` option (null: memory only). */
async function openBackend(storage) {
  if (storage === false) return null;
  let store;
  if (isNode) {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const os = await import('node:os');
    const dir = storage === undefined ? path.join(os.homedir(), '.socket-iwa') : path.resolve(storage);
    store = new NodeDirStore(dir, fs, path);
  } else {
    // A path string names a directory inside the origin private file system.
    const segments = storage === undefined ? ['socket-iwa'] : storage.split('/').filter((s) => s && s !== '.');
    if (segments.some((s) => s === '..')) throw argError(`server storage: ${describe(storage)} must not contain '..'`);
    store = new OpfsStore(segments.length ? segments : ['socket-iwa']);
  }
  await store.open();
  return store;
}

/**
 * Everything a server needs from its storage: the files to stage into MEMFS and
 * the flags naming them, persisting what Rust generated, renewal timing, and the
 * anti-replay register's write-through.
 */
export class ServerStorage {
  #store;
  #explicit;
  #stored = new Set();  // names that came from the storage (for error messages)
  #replayDone = '';     // MEMFS version of the register last written to the storage
  #replayQueued = '';
  #replayChain = Promise.resolve();
  #timer = null;
  #release = null;
  renewBefore;

  constructor(store, explicit, renewBefore) {
    this.#store = store;
    this.#explicit = explicit;
    this.renewBefore = renewBefore;
  }

  /** Opens the storage of `options` (which the caller validated). */
  static async open(options) {
    const renewBefore = validateRenewBefore(options.renewBefore, 'createHttp3Server');
    const store = await openBackend(options.storage);
    const me = new ServerStorage(store, !!options.certificate, renewBefore);
    if (store) me.#release = await lock(store.where(''));
    return me;
  }

  /** Ends the exclusive use `open` began (after the start's saves, or a failed start). */
  release() {
    if (this.#release) this.#release();
    this.#release = null;
  }

  /** Generated certificates are kept and renewed (not a certificate the caller passed). */
  get renews() {
    return !this.#explicit;
  }

  /**
   * Copies the stored files into MEMFS; returns the server flags. `certificate`
   * (explicit { cert, key }) is staged but never stored.
   */
  async stage(FS, certificate) {
    const m = (n) => `${MEMFS_DIR}/${n}`;
    try { FS.mkdir(MEMFS_DIR); } catch { /* exists */ }
    const args = [];
    if (certificate) {
      FS.writeFile(m('given-cert.pem'), certificate.cert);
      FS.writeFile(m('given-key.pem'), certificate.key);
      args.push('--cert', m('given-cert.pem'), '--key', m('given-key.pem'));
    } else {
      const cert = this.#store && await this.#store.read('cert.pem');
      const key = this.#store && await this.#store.read('key.pem');
      if (cert && !key) {
        throw new SocketIWAError('ERR_STORAGE_CORRUPT', `createHttp3Server: ${this.#store.where('cert.pem')} has no private key beside it (${this.#store.where('key.pem')} is missing); delete it to generate a new certificate`);
      }
      // A key without its certificate is an interrupted first save: generate anew.
      if (cert && key) {
        FS.writeFile(m('cert.pem'), cert);
        FS.writeFile(m('key.pem'), key);
        this.#stored.add('cert.pem').add('key.pem');
        args.push('--cert', m('cert.pem'), '--key', m('key.pem'));
      }
      // Rust writes a generated (first or renewed) identity here.
      args.push('--write-cert', m('cert.pem'), '--write-key', m('key.pem'), '--cert-days', String(CERT_DAYS));
    }
    if (this.#store) {
      const ticket = await this.#store.read('ticket.key');
      if (ticket) {
        FS.writeFile(m('ticket.key'), ticket);
        this.#stored.add('ticket.key');
      }
      const replay = await this.#store.read('ticket.key.replay');
      if (replay) FS.writeFile(m('ticket.key.replay'), replay);
      this.#replayDone = this.#replayQueued = this.#replayVersion(FS);
      args.push('--ticket-key', m('ticket.key'));
    }
    return args;
  }

  /** A start failure naming a staged file: the error names the stored file instead. */
  mapStartError(text) {
    for (const name of this.#stored) {
      if (text.includes(`${MEMFS_DIR}/${name}`)) {
        return new SocketIWAError('ERR_STORAGE_CORRUPT',
          `createHttp3Server: ${text.split(`${MEMFS_DIR}/${name}`).join(this.#store.where(name))} (delete it to generate a new one)`);
      }
    }
    return null;
  }

  /** After 'listening': stores what Rust generated (certificate pair, ticket key). */
  async started(FS) {
    if (!this.#store) return;
    if (!this.#explicit && !this.#stored.has('cert.pem')) await this.#saveIdentity(FS);
    if (!this.#stored.has('ticket.key')) await this.#store.write('ticket.key', FS.readFile(`${MEMFS_DIR}/ticket.key`));
  }

  /** After a renewal: stores the new pair. */
  async renewed(FS) {
    if (!this.#store) return;
    // A renewal during the start already holds the lock.
    if (this.#release) return this.#saveIdentity(FS);
    const release = await lock(this.#store.where(''));
    try {
      await this.#saveIdentity(FS);
    } finally {
      release();
    }
  }

  async #saveIdentity(FS) {
    // Key first, certificate last: a certificate in the storage always has its key.
    await this.#store.write('key.pem', FS.readFile(`${MEMFS_DIR}/key.pem`));
    await this.#store.write('cert.pem', FS.readFile(`${MEMFS_DIR}/cert.pem`));
  }

  #replayVersion(FS) {
    try {
      const st = FS.stat(`${MEMFS_DIR}/ticket.key.replay`);
      return `${st.size}:${+st.mtime}`;
    } catch {
      return '';
    }
  }

  /**
   * Called as each request arrives: if Rust added to the anti-replay register
   * (it admitted 0-RTT), returns a promise that settles once the register is in
   * the storage; the request is handed to the handler only then, so an early
   * request a reload forgets can never be replayed into the handler again.
   * null when there is nothing to wait for. `onError` gets a failed write.
   */
  replayGate(FS, onError) {
    if (!this.#store) return null;
    const v = this.#replayVersion(FS);
    if (v === this.#replayDone && v === this.#replayQueued) return null;
    if (v !== this.#replayQueued) {
      this.#replayQueued = v;
      this.#replayChain = this.#replayChain.then(async () => {
        const now = this.#replayVersion(FS);
        if (now === this.#replayDone) return;
        try {
          await this.#store.write('ticket.key.replay', FS.readFile(`${MEMFS_DIR}/ticket.key.replay`));
          this.#replayDone = now;
        } catch (e) {
          onError(e);
        }
      });
    }
    return this.#replayChain;
  }

  /** Calls `renew` when the certificate expiring at `notAfter` (Unix seconds) is due. */
  schedule(notAfter, renew) {
    this.cancel();
    if (!this.renews || typeof notAfter !== 'number') return;
    const due = notAfter * 1000 - this.renewBefore;
    const arm = () => {
      const wait = due - Date.now();
      if (wait <= 0) return renew();
      this.#timer = setTimeout(arm, Math.min(wait, MAX_TIMER_MS));
      // A pending renewal does not keep a Node process alive.
      if (typeof this.#timer?.unref === 'function') this.#timer.unref();
    };
    arm();
  }

  /** True when a certificate expiring at `notAfter` is already inside the renewal margin. */
  due(notAfter) {
    return this.renews && typeof notAfter === 'number' && notAfter * 1000 - this.renewBefore <= Date.now();
  }

  cancel() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
