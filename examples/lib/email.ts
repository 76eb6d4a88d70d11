/**
 * Just enough of RFC 822 / MIME to get the readable text of an e-mail
 * (examples/spam.ts): headers and body split at the first blank line,
 * multipart bodies walked recursively (text/plain preferred, text/html with
 * its tags stripped otherwise), quoted-printable and base64 decoded,
 * attachments and other types skipped. Not a full MIME parser: enough for
 * the SpamAssassin corpus, never throws on malformed mail (it falls back to
 * the raw body).
 */

/** Header names (lowercased) to values, continuation lines unfolded. */
export type Headers = Map<string, string>;

/**
 * Splits a message (or a MIME part) into its headers and body.
 *
 * @throws never
 * @example
 * splitMessage('Subject: hi\n\nbody').headers.get('subject'); // 'hi'
 */
export function splitMessage(text: string): { headers: Headers; body: string } {
  const normal = text.replace(/\r\n/g, '\n');
  const end = normal.indexOf('\n\n');
  const head = end < 0 ? normal : normal.slice(0, end);
  const body = end < 0 ? '' : normal.slice(end + 2);
  const headers: Headers = new Map();
  let last = '';
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && last) {
      headers.set(last, `${headers.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(last)) headers.set(last, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** A parameter of a header value, e.g. boundary="..." of Content-Type. */
function param(value: string, name: string): string | undefined {
  const m = new RegExp(`${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * Decodes quoted-printable text (=XX escapes, soft line breaks), bytes as Latin-1.
 *
 * @throws never
 * @example
 * decodeQuotedPrintable('caf=E9 =\nau lait'); // 'café au lait'
 */
export function decodeQuotedPrintable(text: string): string {
  return text.replace(/=\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** HTML to text: drops style/script blocks and tags, decodes a few entities. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(style|script)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/&amp;/gi, '&')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)));
}

/** The decoded text of a single (non-multipart) part, or '' for a non-text part. */
function partText(headers: Headers, body: string): { text: string; html: boolean } | undefined {
  const type = (headers.get('content-type') ?? 'text/plain').toLowerCase();
  if (!type.startsWith('text/')) return undefined;
  const encoding = (headers.get('content-transfer-encoding') ?? '').toLowerCase();
  let text = body;
  if (encoding.includes('quoted-printable')) text = decodeQuotedPrintable(body);
  else if (encoding.includes('base64')) text = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('latin1');
  const html = type.startsWith('text/html');
  return { text: html ? htmlToText(text) : text, html };
}

/**
 * The readable text of a message body: the text/plain parts, else the
 * text/html parts with tags stripped, recursing into multipart bodies.
 *
 * @throws never
 * @example
 * bodyText('Content-Type: text/html\n\n<p>Buy <b>now</b></p>'); // ' Buy  now  '
 */
export function bodyText(message: string, depth = 0): string {
  const { headers, body } = splitMessage(message);
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = /^multipart\//i.test(type) ? param(type, 'boundary') : undefined;
  if (!boundary || depth > 5) return partText(headers, body)?.text ?? '';
  const parts = body.split(`--${boundary}`).slice(1);
  const plain: string[] = [];
  const html: string[] = [];
  for (const part of parts) {
    if (part.startsWith('--')) break; // the closing delimiter
    const inner = part.replace(/^[ \t]*\n/, '');
    const { headers: h } = splitMessage(inner);
    if (/^multipart\//i.test(h.get('content-type') ?? '')) {
      const text = bodyText(inner, depth + 1);
      if (text) plain.push(text);
      continue;
    }
    const p = partText(h, splitMessage(inner).body);
    if (p) (p.html ? html : plain).push(p.text);
  }
  const chosen = plain.length > 0 ? plain : html;
  return chosen.length > 0 ? chosen.join('\n') : body;
}
