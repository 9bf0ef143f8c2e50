// Multicast media sender: audio frames every 20 ms, a chunked test-pattern
// video frame every 100 ms, to one group. Works in an IWA and under Node
// (pass the SocketIWA API object).
import { STREAM, AUDIO, VIDEO, audioFrame, videoFrame, packetize } from './media.js';

/**
 * @param {object} SocketIWA the API (default export of api/direct_sockets_api.js)
 * @param {{group?: string, port?: number, ttl?: number, durationMs?: number, localAddress?: string, loss?: number}} opts
 *   loss: fraction of packets deliberately not sent (to demonstrate loss reporting)
 * @returns {Promise<{sent: number, frames: {audio: number, video: number}}>}
 */
export async function runSender(SocketIWA, opts = {}) {
  const group = opts.group || '239.10.10.10';
  const port = opts.port || 5004;
  const durationMs = opts.durationMs ?? 5000;
  const loss = opts.loss || 0;
  const udp = await SocketIWA.createMulticastSocket({ localAddress: opts.localAddress || '0.0.0.0', multicastTimeToLive: opts.ttl ?? 1, multicastLoopback: true });
  const seq = { [STREAM.AUDIO]: { next: 0 }, [STREAM.VIDEO]: { next: 0 } };
  const start = performance.now();
  let sent = 0, audio = 0, video = 0, skipped = 0;
  const send = async (pkts) => {
    for (const p of pkts) {
      if (loss && Math.random() < loss) { skipped++; continue; }
      await udp.send(p, port, group);
      sent++;
    }
  };
  while (performance.now() - start < durationMs) {
    const t = performance.now() - start;
    while (audio * AUDIO.frameMs <= t) {
      await send(packetize(STREAM.AUDIO, audio, audio * AUDIO.frameMs, audioFrame(audio), seq[STREAM.AUDIO], 1400));
      audio++;
    }
    while (video * (1000 / VIDEO.fps) <= t) {
      await send(packetize(STREAM.VIDEO, video, video * (1000 / VIDEO.fps), videoFrame(video), seq[STREAM.VIDEO], VIDEO.chunk));
      video++;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await udp.close();
  return { sent, skipped, frames: { audio, video } };
}
