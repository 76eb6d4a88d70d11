/**
 * Reversing long strings, with and without attention: the task where one
 * fixed-size state between encoder and decoder breaks down (issue 14's
 * reversal target). The same model, data and time budget, trained twice:
 * once with the decoder attending over the encoder's outputs, once without.
 *
 *   "7 3 9 0 ... 4" (20-30 symbols) -> "4 ... 0 9 3 7"
 *
 *   npm run example:reverse                   # 2 x 1 minute on 2 cores
 *   npm run example:reverse -- --minutes 3    # the fixed-state model catches up with time
 *   npm run example:reverse -- --minutes 5 --attention additive
 *   npm run example:reverse -- --quick        # a few seconds (smoke test)
 *
 * Data: random strings of --min to --max symbols over a vocabulary of 10,
 * drawn afresh every epoch (seeded); 500 dev strings (model selection) and
 * 1,000 held-out strings, never trained on.
 *
 * Model: GRU encoder of --units per direction (bidirectional), GRU decoder of
 * 2 x units (identity bridge), attention --attention (default general) or
 * none. Adam, clipNorm 5, for the time budget each (examples/lib/seq2seq-budget.ts).
 *
 * Score: held-out exact match (the whole reversed string right), greedy.
 */
import { layers, seq2seq, type Seq2Seq } from '../lib/index.js';
import { exampleArgs } from './lib/args.js';
import { seconds } from './lib/progress.js';
import { rng } from './lib/random.js';
import { exactMatch, fitWithinBudget } from './lib/seq2seq-budget.js';
import { attentionChoice, type AttentionChoice } from './lib/seq2seq-example.js';

const t0 = performance.now();
const { num, str, quick } = exampleArgs(
  'reverse.ts',
  '--minutes 1 --min 20 --max 30 --units 64 --batch 64 --lr 0.003 --attention general --seed 1 --quick',
  [
    '--minutes   training budget of each of the two models',
    '--attention the attention of the first model: general, dot or additive (the second has none)',
    '--quick     a few seconds: strings of 5-8 symbols, 16 units (a smoke test, not a result)',
  ],
);
const budget = quick ? 3 : 60 * num('minutes');
const minLen = quick ? 5 : num('min', { integer: true, min: 1 });
const maxLen = quick ? 8 : num('max', { integer: true, min: minLen });
const units = quick ? 16 : num('units', { integer: true, min: 1 });
const batchSize = num('batch', { integer: true, min: 1 });
const lr = num('lr');
const attention = attentionChoice(str('attention'));
const seed = num('seed', { integer: true });
const SYMBOLS = 10;
const BOS = 1,
  EOS = 2,
  V = 3 + SYMBOLS; // 0 <pad>, 1 <bos>, 2 <eos>, then the symbols

function strings(n: number, s: number): number[][] {
  const r = rng(s);
  return Array.from({ length: n }, () =>
    Array.from({ length: minLen + Math.floor(r() * (maxLen - minLen + 1)) }, () => 3 + Math.floor(r() * SYMBOLS)),
  );
}
const pairs = (sources: number[][]) => ({ sources, targets: sources.map((x) => [...x].reverse()) });
const dev = pairs(strings(500, seed * 1000 + 1));
const held = pairs(strings(quick ? 100 : 1000, seed * 1000 + 2));
const perEpoch = quick ? 2000 : 20000;
console.log(
  `random strings of ${minLen}-${maxLen} symbols over ${SYMBOLS}, ${perEpoch.toLocaleString('en-US')} fresh pairs per epoch, ` +
    `${dev.sources.length} dev, ${held.sources.length} held out; bidirectional GRU ${units} -> GRU ${2 * units}, ` +
    `Adam lr ${lr}, batch ${batchSize}; ${seconds(budget)} each`,
);

async function run(choice: AttentionChoice): Promise<number> {
  const m: Seq2Seq = seq2seq({
    sourceVocab: V,
    targetVocab: V,
    bos: BOS,
    eos: EOS,
    encoder: [layers.gru({ units, bidirectional: true })],
    decoder: [layers.gru({ units: 2 * units })],
    ...(choice === 'none' ? {} : { attention: { type: choice } }),
    seed,
  });
  console.log(`\n${choice === 'none' ? 'without attention' : `with ${choice} attention`}:`);
  const fitted = await fitWithinBudget(m, {
    seconds: budget,
    data: (epoch) => pairs(strings(perEpoch, seed * 1000 + 10 + epoch)),
    dev,
    batchSize,
    lr,
    maxLength: maxLen + 2,
  });
  const out = await m.translate(held.sources, { maxLength: maxLen + 2, batchSize: 256 });
  const acc = exactMatch(out, held.targets);
  console.log(
    `  ${fitted.epochs} epochs (${fitted.pairs.toLocaleString('en-US')} pairs) in ${seconds(fitted.seconds)}, kept epoch ${fitted.bestEpoch}; ` +
      `held-out exact match ${(100 * acc).toFixed(2)}%`,
  );
  m.dispose();
  return acc;
}

const withIt = attention === 'none' ? NaN : await run(attention);
const without = await run('none');
console.log(
  `\nheld-out exact match, same budget: ${attention === 'none' ? '' : `with ${attention} attention ${(100 * withIt).toFixed(2)}%, `}` +
    `without ${(100 * without).toFixed(2)}%`,
);
console.log(`total time ${seconds((performance.now() - t0) / 1e3)}`);
