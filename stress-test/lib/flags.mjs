// Command-line flags of the benchmark and profiling scripts: `--name value`
// pairs, each declared as 'number' (positive) or 'string'; anything else exits 2
// with a one-line message naming the script and the flag.
export function parseFlags(script, declared, argv = process.argv.slice(2)) {
  const opts = {};
  const fail = (msg) => { console.error(`${script}: ${msg}`); process.exit(2); };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : null;
    if (!name || !declared[name]) fail(`unknown argument ${argv[i]}`);
    const v = argv[++i];
    if (v === undefined) fail(`--${name} needs a value`);
    if (declared[name] === 'number' && !(Number(v) > 0)) fail(`--${name} must be a positive number, got ${v}`);
    opts[name] = declared[name] === 'number' ? Number(v) : v;
  }
  return opts;
}
