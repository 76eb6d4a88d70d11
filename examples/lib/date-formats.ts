/**
 * Human-readable dates for the date-normalisation example: every calendar
 * day from 1950-01-01 to 2049-12-31, written in one of {@link DATE_FORMATS},
 * each paired with its ISO 8601 form "YYYY-MM-DD".
 *
 * Every format reads one way only:
 * - a two-digit year YY means 19YY for 50-99 and 20YY for 00-49 (the range
 *   1950-2049 has no other reading);
 * - numeric day and month: dots put the day first (03.05.1979, 3.5.79),
 *   slashes put the month first (05/03/1979), as in most of Europe and in the
 *   US; no other numeric order is used;
 * - month names are spelled out or abbreviated to three letters (September
 *   also as "Sept"), weekdays likewise, and the weekday always agrees with
 *   the date.
 * Formats with words come in their natural casing, lower case or UPPER case.
 */

/** One calendar day. */
export interface Day {
  year: number;
  /** 1-12 */
  month: number;
  /** 1-31 */
  day: number;
  /** 0 = Sunday ... 6 = Saturday */
  weekday: number;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const pad2 = (n: number) => String(n).padStart(2, '0');
const yy = (d: Day) => pad2(d.year % 100);
const ordinal = (n: number) =>
  `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`;
const month = (d: Day) => MONTHS[d.month - 1]!;
const mon = (d: Day, r: () => number) => (d.month === 9 && r() < 0.5 ? 'Sept' : month(d).slice(0, 3));
const weekday = (d: Day) => WEEKDAYS[d.weekday]!;
const wkd = (d: Day) => weekday(d).slice(0, 3);

/**
 * A date format: its name (a pattern), whether it has words (and so casing
 * variants) and how it renders a day (`r` picks among spelling variants).
 */
export interface DateFormat {
  name: string;
  words: boolean;
  render: (d: Day, r: () => number) => string;
}

/**
 * The formats, with 3 May 1979 (a Thursday) as the example of each name.
 *
 * @example
 * DATE_FORMATS.map((f) => f.name); // ['D Month YYYY', 'DD Mon YYYY', ...]
 */
export const DATE_FORMATS: readonly DateFormat[] = [
  { name: 'D Month YYYY (3 May 1979)', words: true, render: (d) => `${d.day} ${month(d)} ${d.year}` },
  { name: 'DD Mon YYYY (03 May 1979)', words: true, render: (d, r) => `${pad2(d.day)} ${mon(d, r)} ${d.year}` },
  { name: 'Month D, YYYY (May 3, 1979)', words: true, render: (d) => `${month(d)} ${d.day}, ${d.year}` },
  { name: 'Mon D YYYY (May 3 1979)', words: true, render: (d, r) => `${mon(d, r)} ${d.day} ${d.year}` },
  { name: 'Month Dth, YY (May 3rd, 79)', words: true, render: (d) => `${month(d)} ${ordinal(d.day)}, ${yy(d)}` },
  { name: 'Weekday, Month D, YYYY (Thursday, May 3, 1979)', words: true, render: (d) => `${weekday(d)}, ${month(d)} ${d.day}, ${d.year}` },
  { name: 'Wkd D Mon YYYY (Thu 3 May 1979)', words: true, render: (d, r) => `${wkd(d)} ${d.day} ${mon(d, r)} ${d.year}` },
  { name: 'the Dth of Month YYYY (the 3rd of May 1979)', words: true, render: (d) => `the ${ordinal(d.day)} of ${month(d)} ${d.year}` },
  { name: "D Mon 'YY (3 May '79)", words: true, render: (d, r) => `${d.day} ${mon(d, r)} '${yy(d)}` },
  { name: 'DD-Mon-YY (03-May-79)', words: true, render: (d, r) => `${pad2(d.day)}-${mon(d, r)}-${yy(d)}` },
  { name: 'DD.MM.YYYY (03.05.1979)', words: false, render: (d) => `${pad2(d.day)}.${pad2(d.month)}.${d.year}` },
  { name: 'D.M.YY (3.5.79)', words: false, render: (d) => `${d.day}.${d.month}.${yy(d)}` },
  { name: 'MM/DD/YYYY (05/03/1979)', words: false, render: (d) => `${pad2(d.month)}/${pad2(d.day)}/${d.year}` },
  { name: 'YYYYMMDD (19790503)', words: false, render: (d) => `${d.year}${pad2(d.month)}${pad2(d.day)}` },
];

/**
 * Every day from 1950-01-01 to 2049-12-31 (36,525 days), in order.
 *
 * @throws never
 * @example
 * allDays()[0]; // { year: 1950, month: 1, day: 1, weekday: 0 }
 */
export function allDays(): Day[] {
  const out: Day[] = [];
  for (let t = Date.UTC(1950, 0, 1); t <= Date.UTC(2049, 11, 31); t += 86_400_000) {
    const d = new Date(t);
    out.push({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay() });
  }
  return out;
}

/**
 * The ISO 8601 form of a day: "YYYY-MM-DD".
 *
 * @throws never
 * @example
 * iso({ year: 1979, month: 5, day: 3, weekday: 4 }); // '1979-05-03'
 */
export function iso(d: Day): string {
  return `${d.year}-${pad2(d.month)}-${pad2(d.day)}`;
}

/**
 * A day written in format `f` (an index into {@link DATE_FORMATS}), in its
 * natural casing (60%), lower case (25%) or upper case (15%) when it has words.
 *
 * @throws never
 * @example
 * renderDate({ year: 1979, month: 5, day: 3, weekday: 4 }, 5, rng(1)); // 'Thursday, May 3, 1979' (or lower / upper case)
 */
export function renderDate(d: Day, f: number, r: () => number): string {
  const format = DATE_FORMATS[f]!;
  const text = format.render(d, r);
  if (!format.words) return text;
  const c = r();
  return c < 0.6 ? text : c < 0.85 ? text.toLowerCase() : text.toUpperCase();
}
