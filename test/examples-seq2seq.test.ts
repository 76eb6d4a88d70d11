/**
 * The encoder-decoder examples run end to end: examples/dates.ts and
 * examples/g2p.ts in --quick mode (a 4-second training budget), each as a
 * child process (node --import=tsx) in a fresh temporary directory, checked
 * on the metrics they print and the model they save. Quick mode is a smoke
 * test: the figures are checked for being well-formed, not for being good.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { example } from './helpers/examples.js';
import { loadSeq2Seq } from '../lib/index.js';

/** The alignment heatmap an example wrote: an SVG of 3 panels of shaded cells, one per (output, source) pair. */
function checkAlignments(t: { true(v: boolean, m?: string): void; regex(s: string, r: RegExp): void }, file: string): void {
  t.true(existsSync(file), `${file} is written`);
  const svg = readFileSync(file, 'utf8');
  t.regex(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const cells = [...svg.matchAll(/<rect [^>]*fill="rgb\((\d+),(\d+),(\d+)\)"><title>[^<]*: ([\d.]+)<\/title>/g)];
  t.true(cells.length >= 3, `${cells.length} cells`);
  t.true(
    cells.every((c) => Number(c[4]) >= 0 && Number(c[4]) <= 1),
    'every cell is a weight in [0, 1]',
  );
}

/** The numbers captured by `pattern` (all its groups; thousands separators dropped). */
function figures(stdout: string, pattern: RegExp): number[] {
  const m = pattern.exec(stdout);
  if (!m) throw new Error(`no match for ${pattern} in:\n${stdout}`);
  return m.slice(1).map((g) => Number(g.replaceAll(',', '')));
}

const isPercent = (v: number) => Number.isFinite(v) && v >= 0 && v <= 100;

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-example-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test.serial('examples/dates.ts --quick trains, scores held-out dates greedily and by beam search, and saves the model', async (t) => {
  const cwd = tmp(t);
  const stdout = await example('dates.ts', ['--quick'], cwd);
  const [train, dev, held] = figures(stdout, /: ([\d,]+) train, (\d+) dev, (\d+) held out/);
  t.true(train! > 0 && dev! > 0 && held! > 0);
  const [greedy] = figures(stdout, /greedy:\s+([\d.]+)%/);
  const [beam] = figures(stdout, /beam search \(4\):\s+([\d.]+)%/);
  t.true(isPercent(greedy!), `greedy ${greedy}`);
  t.true(isPercent(beam!), `beam ${beam}`);
  const byFormat = [...stdout.matchAll(/^ {2}\S.*\s([\d.]+)%\s+\(\d+ days\)$/gm)].map((m) => Number(m[1]));
  t.is(byFormat.length, 14, stdout);
  t.true(byFormat.every(isPercent));
  // a 4-second model may not get dates right, but writes only digits and '-'
  t.regex(stdout, /^ {2}(ok {3}|WRONG) ".+" +-> [\d-]* +\| [\d-]* +\(want \d{4}-\d{2}-\d{2}\)$/m);
  t.regex(stdout, /total time [\d.]+ s/);
  const file = join(cwd, 'dates.rnnkit');
  t.true(existsSync(file));
  const m = await loadSeq2Seq(file);
  t.is(m.sourceTokenizer?.kind, 'char');
  t.deepEqual(m.targetTokenizer?.tokens().slice(4).sort(), [...'-0123456789']);
  const [out] = await m.translate([m.sourceTokenizer!.encode('3 May 1979')], { maxLength: 12 });
  t.true(out!.length <= 12);
  t.deepEqual(m.attention, { type: 'general' });
  m.dispose();
  checkAlignments(t, join(cwd, 'dates-alignment.svg'));
});

test.serial('examples/g2p.ts --quick trains on CMUdict, reports WER and PER, pronounces unseen words and saves the model', async (t) => {
  const cwd = tmp(t);
  const stdout = await example('g2p.ts', ['--quick', '--out', 'quick-g2p.rnnkit'], cwd);
  const [letters, phonemes] = figures(stdout, /(\d+) letters, (\d+) phonemes/);
  t.is(letters, 26);
  t.is(phonemes, 39, 'stress dropped: 39 ARPAbet phonemes');
  for (const row of [/^\s*greedy\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%/m, /^\s*beam 4\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%/m]) {
    const [wer, per, werAny] = figures(stdout, row);
    t.true(isPercent(wer!), `WER ${wer}`);
    t.true(isPercent(werAny!) && werAny! <= wer!, `WER against any pronunciation ${werAny} vs ${wer}`);
    // PER = edits / reference length can exceed 100% (an output longer than the reference)
    t.true(Number.isFinite(per!) && per! >= 0, `PER ${per}`);
  }
  t.regex(stdout, /^ {2}rnnkit {2,}[A-Z ]*not in CMUdict$/m, 'an invented word is pronounced (in ARPAbet symbols)');
  t.regex(stdout, /total time [\d.]+ s/);
  const m = await loadSeq2Seq(join(cwd, 'quick-g2p.rnnkit'));
  t.is(m.targetTokenizer?.kind, 'word');
  t.true(m.targetTokenizer!.tokens().includes('AH'));
  m.dispose();
  checkAlignments(t, join(cwd, 'g2p-alignment.svg'));
});

test.serial('examples/reverse.ts --quick trains the same model with and without attention and scores both', async (t) => {
  const stdout = await example('reverse.ts', ['--quick'], tmp(t));
  const [withIt, without] = figures(stdout, /with general attention ([\d.]+)%, without ([\d.]+)%/);
  t.true(isPercent(withIt!) && isPercent(without!), stdout);
});

test.serial('examples/dates.ts, g2p.ts and reverse.ts --help print their options and exit 0', async (t) => {
  const cwd = tmp(t);
  for (const file of ['dates.ts', 'g2p.ts', 'reverse.ts']) {
    const stdout = await example(file, ['--help'], cwd);
    t.regex(stdout, new RegExp(`usage: node --import=tsx examples/${file.replace('.', '\\.')}`));
    t.regex(stdout, /--quick/);
  }
});
