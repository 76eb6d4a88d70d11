/**
 * `model.summary()`: a Keras-like table of a model's layers.
 */
import { handleOf } from './compute.js';
import type { Model } from './model.js';

/**
 * A Keras-like table of the layers: name, type, output shape, parameter count.
 *
 * @throws never
 * @example
 * console.log(summary(model));
 */
export function summary(model: Model): string {
  const { shapes, weights } = handleOf(model);
  const { config } = model;
  const rows = config.layers.map((layer, i) => {
    const shape = shapes[i]!;
    const params = weights.filter((w) => w.layer === i).reduce((n, w) => n + w.size, 0);
    const extra =
      layer.type === 'lstm' && layer.peephole !== 'none'
        ? ` peephole=${layer.peephole}`
        : layer.type === 'gru' && layer.variant === 'minimal'
          ? ' minimal'
          : '';
    const bi = 'bidirectional' in layer && layer.bidirectional ? ' bidirectional' : '';
    return [
      layer.name ?? `layers.${i}`,
      `${layer.type}${bi}${extra}`,
      shape.seq ? `[B, T, ${shape.width}]` : `[B, ${shape.width}]`,
      params.toLocaleString('en-US'),
    ];
  });
  const header = ['Layer', 'Type', 'Output shape', 'Params'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  const input = 'vocabSize' in config.input ? `tokens (vocabSize ${config.input.vocabSize})` : `features (${config.input.features})`;
  return [
    `Input: ${input}`,
    line(header),
    rule,
    ...rows.map(line),
    rule,
    `Total params: ${model.numParams.toLocaleString('en-US')} (${config.dtype}), loss ${config.loss} (${config.reduction})`,
  ].join('\n');
}
