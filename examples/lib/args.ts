/**
 * Command-line helpers shared by the examples.
 */
import { parseArgs } from 'node:util';

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

/**
 * The command line of an example, declared as its usage text: `spec` lists
 * each option with its default (`--epochs 30`) or alone for a flag
 * (`--quick`). `--help` / `-h` prints the usage (the spec, wrapped) and
 * `notes`, and exits. Returns readers of string, flag and numeric options
 * ({@link numericOptions}) and whether `--quick` was given.
 *
 * @example
 * const { str, num, quick } = exampleArgs('names.ts', '--epochs 30 --out names.rnnkit --quick');
 */
export function exampleArgs(script: string, spec: string, notes: readonly string[] = []) {
  const words = spec.split(/\s+/).filter(Boolean);
  const options: Record<string, { type: 'string'; default: string } | { type: 'boolean'; default: boolean }> = {};
  const flags: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const name = words[i]!.replace(/^--/, '');
    const value = words[i + 1];
    if (value !== undefined && !value.startsWith('--')) {
      options[name] = { type: 'string', default: value };
      flags.push(`[--${name} ${value}]`);
      i++;
    } else {
      options[name] = { type: 'boolean', default: false };
      flags.push(`[--${name}]`);
    }
  }
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    const lines = [`usage: node --import=tsx examples/${script}`];
    for (const f of flags) {
      if (lines.at(-1)!.length + f.length + 1 > 110) lines.push('      ');
      lines[lines.length - 1] += ` ${f}`;
    }
    console.log([...lines, ...notes.map((n) => `  ${n}`)].join('\n'));
    process.exit(0);
  }
  const args = values as Record<string, string | boolean>;
  return {
    /** a string option's value */
    str: (name: string): string => String(args[name]),
    /** whether a flag was given */
    flag: (name: string): boolean => args[name] === true,
    num: numericOptions(args),
    quick: args.quick === true,
  };
}
