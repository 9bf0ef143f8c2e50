// Source-specific multicast (issue 13, defect 4) in a real IWA: Chromium only
// honours joinGroup's `sourceAddress` with the SourceSpecificMulticastInDirectSockets
// feature (the test adds it to the harness's Chromium flags); the API must
// detect it, join source-specifically when present, and refuse with ENOTSUP
// when absent (where plain Direct Sockets silently join for every source).
// Runs in a network namespace created here (needs root; fails, never skips).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addMulticastNetns, removeNetns, runInner } from './iwa_netns.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ns = `siwa-ssm-${process.pid}`;
const range = (tag, kind, from) => Array.from({ length: 5 }, (_, i) => `${tag}-${kind}-${i}|${from}`);

test('source-specific multicast in the IWA: detected with the feature, receives the chosen source only; ENOTSUP without', { timeout: 90000 }, async () => {
  try {
    addMulticastNetns(ns);
    const out = await runInner(ns, path.join(here, 'iwa_ssm_inner.js'));
    assert.equal(out.error, undefined, `${out.error}\n${(out.console || []).join('\n')}`);
    const { enabled, disabled } = out;
    // with the feature
    assert.equal(enabled.probe.supports, true);
    assert.match(enabled.probe.plain, /same IP version/); // Chromium reads and checks sourceAddress
    assert.deepEqual(enabled.start.joined, ['127.0.0.1@239.50.50.50']);
    assert.deepEqual(enabled.control, [...range('api', 'other', '127.0.0.2'), ...range('api', 'source', '127.0.0.1')].sort(), 'both sources reached the any-source control listener');
    assert.deepEqual(enabled.received, range('api', 'source', '127.0.0.1').sort(), 'the source-specific join hears the chosen source and not the other');
    // without it
    assert.equal(disabled.probe.supports, false);
    assert.equal(disabled.probe.refused, 'ENOTSUP');
    assert.match(disabled.probe.plain, /^joined/); // sourceAddress dropped: a wrong-family source is not even checked
    assert.deepEqual(disabled.received, disabled.control, 'plain Direct Sockets without the feature: any-source, both senders heard');
  } finally {
    removeNetns(ns);
  }
});
