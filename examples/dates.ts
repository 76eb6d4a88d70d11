/**
 * Date normalisation (the course's translation exercise): an encoder-decoder
 * reads a date as people write it, character by character, and writes it in
 * ISO 8601.
 *
 *   "Thursday, May 3, 1979" -> "1979-05-03"     "3.5.79" -> "1979-05-03"
 *
 *   npm run example:dates                     # a 90-second training budget on 2 cores
 *   npm run example:dates -- --minutes 3 --units 128
 *   npm run example:dates -- --quick          # a few seconds (smoke test)
 *
 * Data: every day from 1950-01-01 to 2049-12-31. A seeded shuffle sets aside
 * --held-out days (scored once at the end) and --dev days (model selection);
 * the model never sees any rendering of those days in training. Each epoch
 * writes every training day afresh in a random one of 14 formats
 * (examples/lib/date-formats.ts: "3 May 1979", "may 3rd, 79", "THU 3 MAY
 * 1979", "03.05.1979", "05/03/1979", "19790503", ...; two-digit years are
 * 1950-2049, dots put the day first and slashes the month). Held-out days
 * cycle through the formats, so each format is scored on as many days.
 *
 * Tokens: a CharTokenizer over the training sources (case kept) and a
 * 15-token target vocabulary, "0123456789-" plus <pad> <unk> <bos> <eos>.
 *
 * Model: bidirectional LSTM encoder (--units per direction); its final
 * states, forward and backward side by side, start an LSTM decoder of
 * 2 x units (the identity bridge, h and c), which attends over the
 * encoder's outputs (--attention general; `none` for the fixed-state model).
 * With attention, --alignments writes an SVG heatmap of three held-out
 * examples' attention. Adam with clipNorm 5 for the
 * time budget (examples/lib/seq2seq-budget.ts: the learning rate halves after
 * an epoch without dev improvement, the best dev weights are kept).
 *
 * Scores: held-out exact match (the whole ISO string right) with greedy
 * decoding and with beam search.
 */
import { CharTokenizer } from '../lib/index.js';
import { allDays, DATE_FORMATS, iso, renderDate, type Day } from './lib/date-formats.js';
import { seconds } from './lib/progress.js';
import { rng, shuffled } from './lib/random.js';
import { exactMatch, fitWithinBudget } from './lib/seq2seq-budget.js';
import { attentionChoice, biLstmSeq2Seq, saveAndDispose, seq2seqSettings, SEQ2SEQ_NOTES, writeAlignments } from './lib/seq2seq-example.js';
import { exampleArgs } from './lib/args.js';

const t0 = performance.now();
const { str, num, quick } = exampleArgs(
  'dates.ts',
  '--minutes 1.5 --epochs 0 --units 64 --batch 64 --lr 0.005 --held-out 2000 --dev 500 --beam 4 --seed 1 --out dates.rnnkit --attention general --alignments dates-alignment.svg --quick',
  [
    ...SEQ2SEQ_NOTES,
    '--held-out  days scored at the end, --dev days for model selection (both never trained on)',
    '--quick     a few seconds: 1,500 training days, 16 units (a smoke test, not a result)',
  ],
);
const settings = seq2seqSettings(num, quick);
const { budget, maxEpochs, batchSize, lr } = settings;
const nHeld = quick ? 140 : num('held-out', { integer: true, min: 1 });
const nDev = quick ? 100 : num('dev', { integer: true, min: 1 });
const beamWidth = num('beam', { integer: true, min: 1 });
const seed = num('seed', { integer: true });
const out = str('out');
const attention = attentionChoice(str('attention'));
const alignments = str('alignments');
const MAX_LENGTH = 12; // "YYYY-MM-DD" is 10 tokens

// ---- data: disjoint days ----------------------------------------------------
const days = shuffled(allDays(), seed);
const heldDays = days.slice(0, nHeld);
const devDays = days.slice(nHeld, nHeld + nDev);
const trainDays = days.slice(nHeld + nDev, quick ? nHeld + nDev + 1500 : undefined);
if (trainDays.length === 0) throw new RangeError(`Expected --held-out + --dev below ${days.length} but received ${nHeld + nDev}`);
const F = DATE_FORMATS.length;

/** Days written in random formats (seeded), or cycling through them. */
function render(list: readonly Day[], s: number, cycle = false): { text: string[]; want: string[] } {
  const r = rng(s);
  const text = list.map((d, i) => renderDate(d, cycle ? i % F : Math.floor(r() * F), r));
  return { text, want: list.map(iso) };
}

const first = render(trainDays, seed * 1000);
const srcTok = CharTokenizer.fromText(first.text);
const tgtTok = CharTokenizer.fromText('0123456789-');
const encode = (r: { text: string[]; want: string[] }) => ({
  sources: r.text.map((s) => srcTok.encode(s)),
  targets: r.want.map((s) => tgtTok.encode(s)),
});
const held = render(heldDays, seed * 1000 + 1, true);
const heldData = encode(held);
const devData = encode(render(devDays, seed * 1000 + 2, true));
console.log(
  `days 1950-01-01 .. 2049-12-31: ${trainDays.length.toLocaleString('en-US')} train, ${devDays.length} dev, ${heldDays.length} held out ` +
    `(disjoint); ${F} formats; source vocabulary ${srcTok.size} tokens, target vocabulary ${tgtTok.size} tokens`,
);
console.log(
  `e.g. ${first.text
    .slice(0, 4)
    .map((s, i) => `"${s}" -> ${first.want[i]}`)
    .join(',  ')}`,
);

// ---- model ------------------------------------------------------------------
const model = biLstmSeq2Seq(srcTok, tgtTok, { ...settings, seed, attention });

// ---- training ---------------------------------------------------------------
const fitted = await fitWithinBudget(model, {
  seconds: budget,
  maxEpochs,
  data: (epoch) => encode(epoch === 0 ? first : render(trainDays, seed * 1000 + 3 + epoch)),
  dev: devData,
  batchSize,
  lr,
  maxLength: MAX_LENGTH,
});
console.log(
  `trained ${fitted.epochs} epochs (${fitted.pairs.toLocaleString('en-US')} pairs) in ${seconds(fitted.seconds)}; ` +
    `kept epoch ${fitted.bestEpoch} (dev exact match ${(100 * fitted.bestDevExact).toFixed(1)}%)`,
);

// ---- held-out scores ----------------------------------------------------------
const tGreedy = performance.now();
const greedy = await model.translate(heldData.sources, { maxLength: MAX_LENGTH, batchSize: 256 });
const greedySeconds = (performance.now() - tGreedy) / 1e3;
const tBeam = performance.now();
const beam = await model.translate(heldData.sources, { beamWidth, maxLength: MAX_LENGTH, batchSize: 256 });
const beamSeconds = (performance.now() - tBeam) / 1e3;
const decode = (o: number[]) => tgtTok.decode(o);
console.log(`\nheld-out exact match (${heldDays.length} days never trained on):`);
console.log(`  greedy:            ${(100 * exactMatch(greedy, heldData.targets)).toFixed(2)}%  (${seconds(greedySeconds)})`);
console.log(`  beam search (${beamWidth}):   ${(100 * exactMatch(beam, heldData.targets)).toFixed(2)}%  (${seconds(beamSeconds)})`);

console.log('\nby format (greedy, held out):');
for (let f = 0; f < F; f++) {
  const rows = heldData.targets.map((_, i) => i).filter((i) => i % F === f);
  const acc = exactMatch(
    rows.map((i) => greedy[i]!),
    rows.map((i) => heldData.targets[i]!),
  );
  console.log(`  ${DATE_FORMATS[f]!.name.padEnd(48)} ${(100 * acc).toFixed(1).padStart(5)}%  (${rows.length} days)`);
}

const right = heldData.targets.map((_, i) => i).filter((i) => decode(greedy[i]!) === held.want[i]);
const wrong = heldData.targets.map((_, i) => i).filter((i) => decode(greedy[i]!) !== held.want[i]);
console.log(`\nexamples (greedy | beam):`);
for (const i of [...right.slice(0, 6), ...wrong.slice(0, 6)]) {
  const g = decode(greedy[i]!);
  const b = decode(beam[i]!);
  const mark = g === held.want[i] ? 'ok   ' : 'WRONG';
  console.log(`  ${mark} ${JSON.stringify(held.text[i]).padEnd(34)} -> ${g.padEnd(11)} | ${b.padEnd(11)} (want ${held.want[i]})`);
}
console.log(`  ${wrong.length} of ${heldDays.length} held-out dates wrong with greedy decoding`);

// dates written by hand, in and out of the training formats
const mine: [string, string][] = [
  ['12 Oct 1987', ''],
  ['october 12th, 87', ''],
  ['12/10/1987', 'slashes: month first'],
  ['12.10.1987', 'dots: day first'],
  ['the 29th of February 2000', 'a leap day'],
  ['Oct. 12, 1987', 'not a training format (the period)'],
  ['1987-10-12', 'not a training format (ISO itself)'],
  ['12 October', 'no year: not a training format'],
];
const mineOut = await model.translate(
  mine.map(([s]) => srcTok.encode(s)),
  { beamWidth, maxLength: MAX_LENGTH },
);
console.log(`\ndates written by hand (beam ${beamWidth}):`);
mine.forEach(([s, note], i) => console.log(`  ${JSON.stringify(s).padEnd(28)} -> ${decode(mineOut[i]!).padEnd(11)} ${note}`));

// ---- alignments ---------------------------------------------------------------
// three held-out days in different formats: day, month and year attend to where the source writes them
const shown = [0, 2, 9].filter((i) => i < heldDays.length);
await writeAlignments(
  model,
  alignments,
  shown.map((i) => heldData.sources[i]!),
  srcTok,
  tgtTok,
  MAX_LENGTH,
  'dates: attention while writing each output character (rows) over the source characters (columns)',
);

// ---- save ---------------------------------------------------------------------
await saveAndDispose(model, out, t0, fitted.seconds);
