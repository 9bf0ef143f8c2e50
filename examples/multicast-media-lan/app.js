// IWA page: join the group, show loss and jitter per stream; optionally send.
import SocketIWA from '/api/direct_sockets_api.js';
import { startReceiver } from './receiver.js';
import { runSender } from './sender.js';

const $ = (id) => document.getElementById(id);
let rx = null;

function render(stats) {
  $('stats').replaceChildren(...stats.map((s) => {
    const tr = document.createElement('tr');
    for (const v of [s.stream, s.packets, s.lost, s.lossPct.toFixed(2), s.reordered, s.jitterMs.toFixed(3), s.framesComplete]) {
      const td = document.createElement('td'); td.textContent = String(v); tr.append(td);
    }
    return tr;
  }));
}

/** Start receiving (also callable from tests). */
export async function receive(group = $('group').value, port = Number($('port').value)) {
  await SocketIWA.assertPermissions({ multicast: true });
  if (rx) await rx.close();
  rx = await startReceiver(SocketIWA, { group, port });
  $('status').textContent = `joined ${group}:${port}`;
  return true;
}

/** Current statistics (also for tests). */
export function stats() { return rx ? rx.stats() : []; }

/** Send media for `seconds`. */
export async function send(group = $('group').value, port = Number($('port').value), seconds = 10) {
  $('status').textContent = `sending to ${group}:${port}`;
  const r = await runSender(SocketIWA, { group, port, durationMs: seconds * 1000 });
  $('status').textContent = `sent ${r.sent} packets`;
  return r;
}

$('receive').addEventListener('click', () => receive().catch((e) => { $('status').textContent = `${e.code}: ${e.message}`; }));
$('send').addEventListener('click', () => send().catch((e) => { $('status').textContent = `${e.code}: ${e.message}`; }));
setInterval(() => { if (rx) render(rx.stats()); }, 500);
