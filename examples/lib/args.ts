/**
 * Command-line helpers shared by the examples.
 */

/**
 * A reader of numeric options from util.parseArgs values: `num('lr')`,
 * `num('epochs', { integer: true, min: 1 })`; a bad value throws a RangeError
 * naming the option.
 *
 * @example
 * const num = numericOptions(args);
 * const epochs = num('epochs', { integer: true, min: 1 });
 */
export function numericOptions<A extends Record<string, unknown>>(args: A) {
  return (name: keyof A & string, { integer = false, min = 0, max = Infinity } = {}): number => {
    const v = Number(args[name]);
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
      throw new RangeError(`Expected ${integer ? 'an integer' : 'a number'} ${range} for --${name} but received ${String(args[name])}`);
    }
    return v;
  };
}
