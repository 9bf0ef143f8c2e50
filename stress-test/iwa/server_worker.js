// The wasm socket-iwa-server in a dedicated (module) worker of the IWA, for the
// "worker" variant of stress-test/iwa/bench_iwa.mjs. Messages:
//   {start: {module, args}} -> {line} for every output line, then {status} when main() returns
//   {stats: true}           -> {stats} (the bridge's counters, Module.directSockets.stats)
let mod = null;
self.onmessage = async ({ data }) => {
  try {
    if (data.start) {
      const factory = (await import(data.start.module)).default;
      const line = (l) => self.postMessage({ line: l });
      mod = await factory({ noExitRuntime: true, print: line, printErr: (l) => line(`stderr: ${l}`) });
      if (data.start.stopFile) mod.FS.mkdirTree(data.start.stopFile.slice(0, data.start.stopFile.lastIndexOf('/')) || '/');
      self.stopFile = data.start.stopFile;
      mod.runMain(data.start.args).then((status) => self.postMessage({ status }), (e) => self.postMessage({ error: String(e) }));
    } else if (data.stats) {
      self.postMessage({ stats: JSON.parse(JSON.stringify(mod.directSockets.stats)) });
    } else if (data.stop) {
      mod.FS.writeFile(self.stopFile, '');
    }
  } catch (e) {
    self.postMessage({ error: `${e && e.code}: ${e && e.message}` });
  }
};
