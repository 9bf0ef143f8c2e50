// The shared memory of one socket of api/ds_worker.js and its I/O worker
// (api/ds_worker_io.js): control words, the status of each send, and two rings.

/** Indices of the control words (Int32). */
export const C = Object.freeze({
  TX_HEAD: 0, TX_TAIL: 1,      // the send ring: the worker takes, the page pushes
  RX_HEAD: 2, RX_TAIL: 3,      // the receive ring: the page takes, the worker pushes
  DONE: 4,                     // sends (ring entries) whose writes all settled
  MAIN_SEQ: 5,                 // bumped by the worker when the page has something to take
  WORKER_SEQ: 6,               // bumped by the page when the worker has something to take
  RX_DROPS: 7,                 // datagrams dropped because the receive ring was full
  SIGNAL_BYTES: 8,             // settled bytes after which the worker signals the page
  COUNT: 16,
});

/** Write failures travel as 1 + an index here; the last one stands for any other name. */
export const ERROR_NAMES = Object.freeze(['NetworkError', 'InvalidStateError', 'NotAllowedError', 'TypeError', 'Error']);

export const STATUS_SLOTS = 1 << 16;   // sends outstanding at most (one status byte each)
export const RING_BYTES = 1 << 18;     // each ring: 256 KiB

/** Views of one socket's SharedArrayBuffer (made by `create`). */
export function layout(sab) {
  const ctlBytes = C.COUNT * 4;
  return {
    sab,
    ctl: new Int32Array(sab, 0, C.COUNT),
    status: new Uint8Array(sab, ctlBytes, STATUS_SLOTS),
    txData: new Uint8Array(sab, ctlBytes + STATUS_SLOTS, RING_BYTES),
    rxData: new Uint8Array(sab, ctlBytes + STATUS_SLOTS + RING_BYTES, RING_BYTES),
  };
}

export function create() {
  return layout(new SharedArrayBuffer(C.COUNT * 4 + STATUS_SLOTS + 2 * RING_BYTES));
}
