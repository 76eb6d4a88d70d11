/**
 * Recurrent state in and out: checking `options.initialState` and turning the
 * native final states / state gradients into Tensors.
 */
import { rangeError, received, typeError } from './errors.js';
import type { Dtype, NativeState, NativeStateInfo } from './native.js';
import { floatData, tensor } from './tensor.js';
import type { StateTensors } from './types.js';
import { isObject, knownKeys } from './validate.js';

/**
 * Checks `options.initialState`: an array with at most one entry per
 * recurrent layer (in order), each `null` / `undefined` (zeros) or
 * `{ h, c? }` with Tensors of shape [dirs, B, H] or float arrays of
 * dirs*B*H elements; `c` only for LSTM layers.
 *
 * @returns one entry per recurrent layer, or undefined when no state was given
 * @throws TypeError for a wrong container or array type
 * @throws RangeError for too many entries, a wrong shape or length, a
 *   non-finite value, a missing h, or c on a non-LSTM layer
 * @example
 * const states = toInitialStates(options.initialState, model.stateTable(), B, 'float32');
 */
export function toInitialStates(
  value: unknown,
  table: readonly NativeStateInfo[],
  B: number,
  dtype: Dtype,
  path = 'options.initialState',
): (NativeState | null)[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    throw typeError('an array with one { h, c? } per recurrent layer', path, value);
  }
  if (value.length > table.length) {
    throw rangeError(`at most ${table.length} entries (one per recurrent layer)`, path, received(`array of length ${value.length}`));
  }
  return table.map((info, i) => {
    const entry: unknown = value[i];
    const name = `${path}[${i}]`;
    if (entry === undefined || entry === null) return null;
    if (!isObject(entry)) throw typeError('{ h, c? } or null', name, entry);
    knownKeys(entry, ['h', 'c'], name);
    const shape = [info.dirs, B, info.units];
    if (entry.h === undefined) throw typeError(`a Tensor of shape [${shape.join(', ')}]`, `${name}.h`, undefined);
    const state: NativeState = { h: floatData(entry.h, shape, `${name}.h`, dtype) };
    if (entry.c !== undefined) {
      if (!info.hasCell) {
        throw rangeError(`no c (layers[${info.layer}] is not an LSTM)`, `${name}.c`, entry.c);
      }
      state.c = floatData(entry.c, shape, `${name}.c`, dtype);
    }
    return state;
  });
}

/**
 * Wraps native per-layer states as Tensors of shape [dirs, B, H].
 *
 * @throws never
 * @example
 * const finalState = stateTensors(result.finalStates, table, B);
 */
export function stateTensors(states: readonly NativeState[], table: readonly NativeStateInfo[], B: number): StateTensors[] {
  return states.map((s, i) => {
    const info = table[i]!;
    const shape = [info.dirs, B, info.units];
    const out: StateTensors = { h: tensor(s.h, shape) };
    if (s.c) out.c = tensor(s.c, shape);
    return out;
  });
}
