/**
 * examples/serve.ts end to end: the server runs as a child process on a saved
 * language model; concurrent SSE and JSON requests get the texts generateText
 * gives alone, a bad parameter is a 400 that leaves the others alone, and
 * SIGTERM shuts it down cleanly.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CharTokenizer, generateText, layers, sequential } from '../lib/index.js';

const tsx = import.meta.resolve('tsx');
const script = fileURLToPath(new URL('../examples/serve.ts', import.meta.url));

/** The data lines of a server-sent-events body: the token events, and the final `done` event's text. */
function parseEvents(body: string): { tokens: { id: number; text: string }[]; done: string | undefined } {
  const tokens: { id: number; text: string }[] = [];
  let done: string | undefined;
  for (const block of body.split('\n\n').filter(Boolean)) {
    const lines = block.split('\n');
    const data = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) as { id: number; text: string };
    if (lines[0] === 'event: done') done = data.text;
    else tokens.push(data);
  }
  return { tokens, done };
}

test('examples/serve.ts streams and answers concurrent requests as generateText alone, refuses bad ones, and shuts down', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-serve-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tok = CharTokenizer.fromText(['anna', 'bob', 'maria', 'mark', 'zoe']);
  const model = sequential({
    input: { vocabSize: tok.size },
    layers: [layers.lstm({ units: 24 }), layers.dense({ units: tok.size })],
    seed: 2,
  });
  model.tokenizer = tok;
  const file = join(dir, 'lm.rnnkit');
  await model.save(file);

  const child = spawn(process.execPath, ['--import', tsx, script, '--model', file, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });

  const seeds = [1, 2, 3, 4, 5, 6];
  const [streams, json, bad] = await Promise.all([
    Promise.all(seeds.map((s) => fetch(`${base}/generate?prime=ma&seed=${s}&maxLength=30`).then((r) => r.text()))),
    fetch(`${base}/generate.json?prime=&n=3&seed=10&temperature=0.7`).then((r) => r.json() as Promise<{ texts: string[] }>),
    fetch(`${base}/generate?prime=ma&topP=2`),
  ]);
  for (let i = 0; i < seeds.length; i++) {
    const { tokens, done } = parseEvents(streams[i]!);
    const [expected] = await generateText(model, { prime: 'ma', seed: seeds[i]!, maxLength: 30 });
    t.is(done, expected);
    t.is('ma' + tokens.map((x) => x.text).join(''), expected);
  }
  for (let i = 0; i < 3; i++) t.is(json.texts[i], (await generateText(model, { prime: '', seed: 10 + i, temperature: 0.7 }))[0]);
  t.is(bad.status, 400);
  t.regex(((await bad.json()) as { error: string }).error, /options\.topP/);
  t.is((await fetch(`${base}/nothing`)).status, 404);
  t.is((await fetch(`${base}/generate?color=red`)).status, 400);

  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
});
