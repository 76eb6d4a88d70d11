/**
 * Serve: a language model behind node:http, with every request sampled in one
 * batch (rnnkit's batched sampler; docs/serving.md).
 *
 *   npm run demo                                    # trains names.rnnkit (about a minute)
 *   npm run example:serve -- --model names.rnnkit   # http://127.0.0.1:8080
 *   curl -N 'http://127.0.0.1:8080/generate?prime=ma&seed=7'        # server-sent events, a token each
 *   curl 'http://127.0.0.1:8080/generate.json?prime=ma&n=5'          # JSON: { texts: [...] }
 *
 * Query parameters: prime (text), maxLength, temperature, topK, topP, seed and,
 * for the JSON endpoint, n (texts, each its own request with seed + i). A bad
 * one is a 400 with the option's TypeError / RangeError message; the other
 * requests in the batch never notice. A client that disconnects cancels its
 * request: its slot frees at the next token. SIGINT / SIGTERM close the
 * server, then the sampler (requests still running end with ERR_CLOSED).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { batchedSampler, load, type TextSampleRequest } from '../lib/index.js';
import { exampleArgs } from './lib/args.js';

const { str, num } = exampleArgs('serve.ts', '--model names.rnnkit --host 127.0.0.1 --port 8080 --max-batch 256', [
  'GET /generate?prime=...  server-sent events: data: {"text":"a","id":5} per token, then event: done',
  'GET /generate.json?prime=...&n=3  JSON { "texts": [...] }',
]);
const file = str('model');
if (!existsSync(file)) {
  console.error(`no model at ${file}: train one with \`npm run demo\` (writes names.rnnkit) or pass --model PATH`);
  process.exit(1);
}
const model = await load(file);
if (!model.tokenizer) {
  console.error(`${file} has no tokenizer: serve needs a language model saved with one`);
  process.exit(1);
}
const sampler = batchedSampler(model, { maxBatch: num('max-batch', { integer: true, min: 1, max: 4096 }) });

const NUMERIC = ['maxLength', 'temperature', 'topK', 'topP', 'seed'] as const;

/** A request's options from the query string (numbers as numbers); unknown parameters are refused by the sampler. */
function requestOptions(url: URL, signal: AbortSignal): TextSampleRequest & { n: number } {
  const o: Record<string, unknown> = { prime: url.searchParams.get('prime') ?? '', signal };
  let n = 1;
  for (const [key, value] of url.searchParams) {
    if (key === 'prime') continue;
    if (key === 'n' && url.pathname === '/generate.json') n = Number(value);
    else o[key] = (NUMERIC as readonly string[]).includes(key) ? Number(value) : value;
  }
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new RangeError(`Expected an integer in [1, 64] for n but received ${url.searchParams.get('n')}`);
  return { ...(o as TextSampleRequest), n };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}

/** Argument errors are the client's (400); anything else is the server's (500). */
function failure(res: ServerResponse, err: unknown): void {
  const e = err as Error;
  const status = e instanceof TypeError || e instanceof RangeError ? 400 : 500;
  if (res.headersSent) res.end(`event: error\ndata: ${JSON.stringify({ error: e.message })}\n\n`);
  else reply(res, status, { error: e.message, ...(status === 500 && 'code' in e ? { code: e.code } : {}) });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const aborter = new AbortController();
  res.on('close', () => aborter.abort(new Error('the client disconnected')));
  if (req.method !== 'GET' || (url.pathname !== '/generate' && url.pathname !== '/generate.json')) {
    return reply(res, 404, { error: 'GET /generate (server-sent events) or /generate.json' });
  }
  const { n, ...options } = requestOptions(url, aborter.signal);
  if (url.pathname === '/generate.json') {
    const seed = options.seed ?? 0;
    const texts = await Promise.all(Array.from({ length: n }, (_, i) => sampler.generateText({ ...options, seed: seed + i })));
    return reply(res, 200, { texts });
  }
  const tokens = sampler.stream(options);
  const first = await tokens.next(); // a bad request fails here, before the 200
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  let text = options.prime ?? '';
  for (let next = first; !next.done; next = await tokens.next()) {
    text += next.value.text;
    res.write(`data: ${JSON.stringify(next.value)}\n\n`);
  }
  res.end(`event: done\ndata: ${JSON.stringify({ text })}\n\n`);
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    if (!res.destroyed) failure(res, err);
  });
});
server.listen(num('port', { integer: true, min: 0, max: 65535 }), str('host'), () => {
  const address = server.address() as { port: number };
  console.log(`serving ${file} (${model.numParams} parameters) on http://${str('host')}:${address.port}`);
  console.log(`try: curl -N 'http://${str('host')}:${address.port}/generate?prime=ma&seed=7'`);
});

async function shutdown(): Promise<void> {
  server.close();
  server.closeAllConnections();
  await sampler.close();
  model.dispose();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
