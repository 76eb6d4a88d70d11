/**
 * Option value parsers for commander: each returns the parsed value or
 * throws commander's InvalidArgumentError, which commander reports as
 * "error: option '--units <n>' argument 'x' is invalid. <reason>" (exit 2).
 */
import { InvalidArgumentError } from 'commander';

/**
 * A parser for an integer in [min, max].
 *
 * @throws InvalidArgumentError (from the returned parser) for anything else
 * @example
 * new Option('--units <n>').argParser(intIn(1, 65536));
 */
export function intIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const v = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`Expected an integer in [${min}, ${max}].`);
    }
    return v;
  };
}

/**
 * A parser for a finite number in [min, max] (or (min, max] when `minExclusive`).
 *
 * @throws InvalidArgumentError (from the returned parser) for anything else
 * @example
 * new Option('--lr <rate>').argParser(numberIn(0, 10, true));
 */
export function numberIn(min: number, max: number, minExclusive = false): (value: string) => number {
  return (value) => {
    const v = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(v) || v < min || v > max || (minExclusive && v === min)) {
      throw new InvalidArgumentError(`Expected a number in ${minExclusive ? '(' : '['}${min}, ${max}].`);
    }
    return v;
  };
}
