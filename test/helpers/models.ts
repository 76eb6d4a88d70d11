/**
 * Small models for tests: a GRU -> GRU seq2seq over a tiny vocabulary, and for
 * checks that must reach the binding directly a raw NativeModel, a complete
 * native optimizer and a one-token batch.
 */
import { layers, seq2seq, type Seq2Seq, type Seq2SeqConfig } from '../../lib/index.js';
import { native, type NativeModel, type NativeModelSpec, type NativeOptimizer } from '../../lib/native.js';
import { toNativeOptimizer } from '../../lib/optimizer.js';

/** A seq2seq of one GRU layer of `units` each side over `V` ids (bos 1, eos 2); any config field overridable. */
export function smallSeq2Seq(V = 5, units = 3, overrides: Partial<Seq2SeqConfig> = {}): Seq2Seq {
  const config: Seq2SeqConfig = {
    sourceVocab: V,
    targetVocab: V,
    bos: 1,
    eos: 2,
    encoder: [layers.gru({ units })],
    decoder: [layers.gru({ units })],
  };
  return seq2seq({ ...config, ...overrides });
}

/** Four (source, reversed source) pairs over ids 3..5, for {@link smallSeq2Seq}(6, ...). */
const SOURCES = [
  [3, 4, 5],
  [5, 4],
  [4, 3],
  [3, 5, 4],
];
export const REVERSE_PAIRS: { sources: number[][]; targets: number[][] } = {
  sources: SOURCES,
  targets: SOURCES.map((r) => [...r].reverse()),
};

/** A NativeModel of one linear dense layer over `V` token ids, crossEntropy; any spec field overridable. */
export function rawDense(V = 5, overrides: Partial<NativeModelSpec> = {}): NativeModel {
  const spec: NativeModelSpec = {
    inputKind: 'tokens',
    inputSize: V,
    layers: [{ type: 'dense', units: V, activation: 'linear' }],
    loss: 'crossEntropy',
    reduction: 'mean',
    seed: 1,
    dtype: 'float32',
  };
  return new (native().NativeModel)({ ...spec, ...overrides });
}

/** Every field of a native optimizer: plain SGD, lr 0.1, no clipping; any field overridable. */
export function nativeOptimizer(overrides: Partial<NativeOptimizer> = {}): NativeOptimizer {
  return { ...toNativeOptimizer({ type: 'sgd', lr: 0.1 }, undefined, undefined), ...overrides };
}

/** A batch of one row and one step holding token `id`. */
export function oneToken(id = 1) {
  return { B: 1, T: 1, tokens: Int32Array.of(id), lengths: Int32Array.of(1) };
}
