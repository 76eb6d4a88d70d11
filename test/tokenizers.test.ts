/**
 * Tokenizers: special ids, deterministic vocabulary order, <unk> mapping,
 * encode / decode round trips (char and word), one-hot rows, JSON round trips
 * and every argument / JSON error path (class + message naming the argument).
 */
import test, { type ExecutionContext } from 'ava';
import {
  BOS_ID,
  CharTokenizer,
  EOS_ID,
  PAD_ID,
  SPECIAL_TOKENS,
  Tokenizer,
  tokenizerFromJSON,
  UNK_ID,
  WordTokenizer,
  type TokenizerJSON,
} from '../lib/tokenizers/index.js';

type Ctor = typeof TypeError | typeof RangeError;

/** Asserts `fn` throws exactly `cls` whose message follows the template and names `name`. */
function throwsNamed(t: ExecutionContext, fn: () => unknown, cls: Ctor, name: string, extra?: RegExp) {
  const err = t.throws(fn, { instanceOf: cls });
  if (!err) return;
  t.true(err.constructor === cls, `expected exactly ${cls.name}, got ${err.constructor.name}: ${err.message}`);
  t.regex(err.message, /^Expected .+ for .+ but received .+$/s);
  t.true(err.message.includes(` for ${name} but`), `message should name ${name}: ${err.message}`);
  if (extra) t.regex(err.message, extra);
}

/** A JSON deep copy, as after saving and loading a file. */
function viaJSON<T>(value: T): any {
  return JSON.parse(JSON.stringify(value));
}

const SPECIALS = ['<pad>', '<unk>', '<bos>', '<eos>'];

// ---------------------------------------------------------------------------
// Specials and vocabulary order

test('specials have fixed ids and come first', (t) => {
  for (const tok of [CharTokenizer.fromText('abc'), WordTokenizer.fromText('a b c')]) {
    t.deepEqual([tok.padId, tok.unkId, tok.bosId, tok.eosId], [0, 1, 2, 3]);
    t.deepEqual([PAD_ID, UNK_ID, BOS_ID, EOS_ID], [0, 1, 2, 3]);
    t.deepEqual(tok.tokens().slice(0, 4), SPECIALS);
    t.deepEqual([...SPECIAL_TOKENS], SPECIALS);
    for (let id = 0; id < 4; id++) {
      t.is(tok.tokenOf(id), SPECIALS[id]);
      t.is(tok.idOf(SPECIALS[id]!), id);
    }
    t.is(tok.size, 7);
    t.true(tok instanceof Tokenizer);
  }
});

test('char vocabulary: frequency descending, ties by code point', (t) => {
  const tok = CharTokenizer.fromText('banana bread');
  // a:4, n:2, b:2, then ' ', d, e, r once each (code-point order: ' ' < d < e < r)
  t.deepEqual(tok.tokens(), [...SPECIALS, 'a', 'b', 'n', ' ', 'd', 'e', 'r']);
  t.is(tok.kind, 'char');
});

test('ties use code-point order, not UTF-16 code units', (t) => {
  // U+FF01 '！' < U+1F642 '🙂' as code points, but '🙂' < '！' as UTF-16 (lead surrogate 0xD83D).
  const tok = CharTokenizer.fromText('🙂！');
  t.deepEqual(tok.tokens().slice(4), ['！', '🙂']);
  const words = WordTokenizer.fromText('🙂 ！ b a');
  t.deepEqual(words.tokens().slice(4), ['a', 'b', '！', '🙂']);
});

test('determinism: same text gives same ids; insertion order of equal counts does not matter', (t) => {
  const a = CharTokenizer.fromText('the quick brown fox');
  const b = CharTokenizer.fromText('the quick brown fox');
  t.deepEqual(a.tokens(), b.tokens());
  t.deepEqual(a.encode('fox'), b.encode('fox'));
  t.deepEqual(CharTokenizer.fromText('abcabc').tokens(), CharTokenizer.fromText('cbacba').tokens());
  t.deepEqual(CharTokenizer.fromText(['xyz', 'zyx']).tokens(), CharTokenizer.fromText(['zyx', 'xyz']).tokens());
  const w1 = WordTokenizer.fromText('dog cat bird cat dog bird');
  const w2 = WordTokenizer.fromText('bird bird cat dog cat dog');
  t.deepEqual(w1.tokens(), w2.tokens());
  t.deepEqual(w1.tokens().slice(4), ['bird', 'cat', 'dog']);
});

test('fromText accepts an array of strings; tokens never span entries', (t) => {
  t.deepEqual(CharTokenizer.fromText(['anna', 'bob']).tokens(), CharTokenizer.fromText('annabob').tokens());
  const w = WordTokenizer.fromText(['new', 'york']);
  t.deepEqual(w.tokens().slice(4), ['new', 'york']);
  t.is(CharTokenizer.fromText([]).size, 4);
  t.is(CharTokenizer.fromText('').size, 4);
  t.deepEqual(CharTokenizer.fromText('').encode('ab'), Int32Array.from([UNK_ID, UNK_ID]));
});

// ---------------------------------------------------------------------------
// Char level

test('char: encode/decode round trip, including non-ASCII and astral code points', (t) => {
  const text = 'Zoë 🙂 naïve café — 日本語 🙂!';
  const tok = CharTokenizer.fromText(text);
  const ids = tok.encode(text);
  t.true(ids instanceof Int32Array);
  t.is(ids.length, Array.from(text).length);
  t.is(tok.decode(ids), text);
  t.is(tok.decode(Array.from(ids)), text);
  t.is(tok.decode(tok.encode('Zoë 🙂')), 'Zoë 🙂');
  // '🙂' is one token (two UTF-16 units)
  t.is(tok.encode('🙂').length, 1);
  t.is(tok.tokenOf(tok.encode('🙂')[0]!), '🙂');
});

test('char: unseen characters map to <unk>, shown as "<unk>" by decode', (t) => {
  const tok = CharTokenizer.fromText('abc');
  const ids = tok.encode('abXc🙂');
  t.deepEqual(Array.from(ids), [tok.idOf('a'), tok.idOf('b'), UNK_ID, tok.idOf('c'), UNK_ID]);
  t.is(tok.decode(ids), 'ab<unk>c<unk>');
  t.is(tok.idOf('X'), UNK_ID);
});

test('char: a literal "<unk>" in the text is characters, not the special', (t) => {
  const tok = CharTokenizer.fromText('say <unk> and <eos>');
  t.true(tok.tokens().includes('<'));
  t.is(tok.tokens().indexOf('<unk>'), UNK_ID);
  t.is(tok.tokens().filter((s) => s === '<unk>').length, 1);
  const ids = tok.encode('<unk><eos>');
  t.is(ids.length, 10);
  t.false(Array.from(ids).some((id) => id < 4));
  t.is(tok.decode(ids), '<unk><eos>');
});

test('char: lowercase option (default false)', (t) => {
  const cased = CharTokenizer.fromText('AaB');
  t.deepEqual(cased.tokens().slice(4), ['A', 'B', 'a']);
  t.false(cased.options.lowercase);
  const lower = CharTokenizer.fromText('AaB', { lowercase: true });
  t.deepEqual(lower.tokens().slice(4), ['a', 'b']);
  t.is(lower.decode(lower.encode('BAbA')), 'baba');
});

test('char: minFrequency cut-off maps rare characters to <unk>', (t) => {
  const tok = CharTokenizer.fromText('aaabbc', { minFrequency: 2 });
  t.deepEqual(tok.tokens().slice(4), ['a', 'b']);
  t.deepEqual(Array.from(tok.encode('abc')), [4, 5, UNK_ID]);
  t.is(tok.options.minFrequency, 2);
});

test('char: maxVocab counts the 4 specials and maps the rest to <unk>', (t) => {
  const tok = CharTokenizer.fromText('aaabbc', { maxVocab: 5 });
  t.is(tok.size, 5);
  t.deepEqual(tok.tokens(), [...SPECIALS, 'a']);
  t.deepEqual(Array.from(tok.encode('abc')), [4, UNK_ID, UNK_ID]);
  t.is(CharTokenizer.fromText('ab', { maxVocab: 100 }).size, 6);
  t.is(CharTokenizer.fromText('ab', { maxVocab: Infinity }).size, 6);
});

// ---------------------------------------------------------------------------
// encode / decode options, one-hot, lookups

test('encode adds <bos> / <eos> on request', (t) => {
  const tok = CharTokenizer.fromText('ab');
  t.deepEqual(Array.from(tok.encode('ab')), [4, 5]);
  t.deepEqual(Array.from(tok.encode('ab', { addBos: true })), [BOS_ID, 4, 5]);
  t.deepEqual(Array.from(tok.encode('ab', { addEos: true })), [4, 5, EOS_ID]);
  t.deepEqual(Array.from(tok.encode('ab', { addBos: true, addEos: true })), [BOS_ID, 4, 5, EOS_ID]);
  t.deepEqual(Array.from(tok.encode('', { addBos: true, addEos: true })), [BOS_ID, EOS_ID]);
  t.deepEqual(Array.from(tok.encode('ab', {})), [4, 5]);
});

test('encode never throws on content', (t) => {
  const c = CharTokenizer.fromText('abc');
  const w = WordTokenizer.fromText('abc');
  for (const text of ['', '\uD800', '\uDC00x', '\0\n\t', '<pad><bos>', '🙂'.repeat(1000), 'x'.repeat(100000)]) {
    t.notThrows(() => c.encode(text));
    t.notThrows(() => w.encode(text));
  }
});

test('decode: skipSpecial (default true) drops pad/bos/eos and keeps <unk>', (t) => {
  const tok = CharTokenizer.fromText('hi');
  const ids = [BOS_ID, tok.idOf('h'), UNK_ID, tok.idOf('i'), EOS_ID, PAD_ID, PAD_ID];
  t.is(tok.decode(ids), 'h<unk>i');
  t.is(tok.decode(ids, { skipSpecial: true }), 'h<unk>i');
  t.is(tok.decode(ids, { skipSpecial: false }), '<bos>h<unk>i<eos><pad><pad>');
  t.is(tok.decode(Int32Array.from(ids)), 'h<unk>i');
  t.is(tok.decode([]), '');
  const w = WordTokenizer.fromText('hello world');
  const wids = Array.from(w.encode('hello there world', { addBos: true, addEos: true }));
  t.is(w.decode(wids), 'hello <unk> world');
  t.is(w.decode(wids, { skipSpecial: false }), '<bos> hello <unk> world <eos>');
});

test('oneHot: [T, size] with exactly one 1 per row at ids[t]', (t) => {
  const tok = CharTokenizer.fromText('abc');
  const ids = tok.encode('cab', { addBos: true, addEos: true });
  const x = tok.oneHot(ids);
  t.true(x instanceof Float32Array);
  t.is(x.length, ids.length * tok.size);
  for (let row = 0; row < ids.length; row++) {
    const r = x.subarray(row * tok.size, (row + 1) * tok.size);
    t.is(
      r.reduce((s, v) => s + v, 0),
      1,
    );
    t.is(r[ids[row]!], 1);
  }
  t.deepEqual(tok.oneHot([1, 0]), Float32Array.from([0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
  t.is(tok.oneHot([]).length, 0);
});

test('tokens() is a copy; idOf is exact; tokenOf inverts idOf', (t) => {
  const tok = WordTokenizer.fromText('Hello world');
  const list = tok.tokens();
  list[4] = 'changed';
  t.not(tok.tokens()[4], 'changed');
  t.is(tok.idOf('hello'), 4);
  t.is(tok.idOf('Hello'), UNK_ID); // no lowercasing in idOf
  for (let id = 0; id < tok.size; id++) t.is(tok.idOf(tok.tokenOf(id)), id);
});

// ---------------------------------------------------------------------------
// Word level

test('word: default pattern keeps contractions, hyphenated words, numbers; each punctuation mark alone', (t) => {
  const tok = WordTokenizer.fromText("Don't stop: a well-known 3.50, 1,000 or 42 rock’n’roll (really)... ok?!");
  const words = tok.tokens().slice(4);
  for (const w of ["don't", 'well-known', '3.50', '1,000', '42', 'rock’n’roll', 'really', 'ok']) t.true(words.includes(w), w);
  for (const p of [':', ',', '(', ')', '.', '?', '!']) t.true(words.includes(p), p);
  t.false(words.includes('...'));
  t.is(tok.encode('...').length, 3);
  t.is(tok.kind, 'word');
});

test('word: decode(encode(s)) is the lowercased text with normalized spacing', (t) => {
  const s = "The cat's toy (a well-known one) costs 3.50, doesn't it? Yes! [Maybe] {not}; fine: dogs' bowls.";
  const tok = WordTokenizer.fromText(s);
  t.is(tok.decode(tok.encode(s)), s.toLowerCase());
  t.is(tok.decode(tok.encode("  the   cat's\ttoy ( a )  ,  yes  !")), "the cat's toy (a), yes!");
  t.is(tok.decode(tok.encode('THE TOY', { addBos: true, addEos: true })), 'the toy');
});

test('word: decode puts quotes against what they quote, as the text had them', (t) => {
  const s = 'he said "hi there" and left. "yes," she said, "go."';
  const tok = WordTokenizer.fromText([s, 'a b c']);
  t.is(tok.decode(tok.encode(s)), s);
  t.is(tok.decode(tok.encode('" a " b " c "')), '"a" b "c"');
  // an unclosed quote opens; the Brown corpus's `` and '' and typographic quotes pair up too
  t.is(tok.decode(tok.encode('" a b')), '"a b');
  const pairs = WordTokenizer.fromText("`` hi '' “ yes ” ok", { pattern: /``|''|\S+/g });
  t.is(pairs.decode(pairs.encode("`` hi '' “ yes ” ok")), "``hi'' “yes” ok");
});

test('unknownTokens lists the pieces encode turns into <unk>, each once', (t) => {
  const words = WordTokenizer.fromText('the cat sat');
  t.deepEqual(words.unknownTokens('The dog and the cow and the cat'), ['dog', 'and', 'cow']);
  t.deepEqual(words.unknownTokens('the cat'), []);
  t.deepEqual(words.unknownTokens('<eos>'), ['<', 'eos', '>'], 'special spellings are text');
  const chars = CharTokenizer.fromText('abc');
  t.deepEqual(chars.unknownTokens('abxcyx'), ['x', 'y']);
  t.throws(() => chars.unknownTokens(3 as never), { instanceOf: TypeError, message: /for text but received number 3/ });
});

test('word: lowercase option (default true)', (t) => {
  const def = WordTokenizer.fromText('The the THE');
  t.deepEqual(def.tokens().slice(4), ['the']);
  t.true(def.options.lowercase);
  const cased = WordTokenizer.fromText('The the THE the', { lowercase: false });
  t.deepEqual(cased.tokens().slice(4), ['the', 'THE', 'The']);
  t.is(cased.encode('THE')[0], cased.idOf('THE'));
});

test('word: unseen words and minFrequency / maxVocab cut-offs map to <unk>', (t) => {
  const text = 'a a a b b c';
  const tok = WordTokenizer.fromText(text);
  t.deepEqual(Array.from(tok.encode('a zebra c')), [4, UNK_ID, 6]);
  const rare = WordTokenizer.fromText(text, { minFrequency: 2 });
  t.deepEqual(Array.from(rare.encode('a b c')), [4, 5, UNK_ID]);
  const capped = WordTokenizer.fromText(text, { maxVocab: 5 });
  t.is(capped.size, 5);
  t.deepEqual(Array.from(capped.encode('a b c')), [4, UNK_ID, UNK_ID]);
  t.is(capped.decode(capped.encode('a b c')), 'a <unk> <unk>');
});

test('word: a literal "<unk>" in the text splits into "<", "unk", ">" with the default pattern', (t) => {
  const tok = WordTokenizer.fromText('an <unk> here and <bos> there');
  t.is(tok.tokens().filter((s) => s === '<unk>').length, 1);
  t.true(tok.tokens().includes('unk'));
  t.true(tok.tokens().includes('<'));
  const ids = Array.from(tok.encode('<unk>'));
  t.deepEqual(ids, [tok.idOf('<'), tok.idOf('unk'), tok.idOf('>')]);
  t.false(ids.includes(UNK_ID));
  t.false(Array.from(tok.encode('<bos>')).includes(BOS_ID));
});

test('word: a custom pattern is made global and copied; special spellings stay text (-> <unk>)', (t) => {
  const re = /\S+/; // not global
  const tok = WordTokenizer.fromText('<bos> hello, <unk> world <eos> hello,', { pattern: re });
  t.false(re.global);
  t.is(re.lastIndex, 0);
  t.is(tok.options.pattern.source, '\\S+');
  t.is(tok.options.pattern.flags, 'g');
  t.deepEqual(tok.tokens(), [...SPECIALS, 'hello,', 'world']);
  t.deepEqual(Array.from(tok.encode('<bos> hello, <eos>')), [UNK_ID, 4, UNK_ID]);
  // a global pattern with a stale lastIndex is not affected
  const g = /[a-z]+/g;
  g.exec('abc def');
  t.not(g.lastIndex, 0);
  const tok2 = WordTokenizer.fromText('abc def', { pattern: g });
  t.deepEqual(tok2.tokens().slice(4), ['abc', 'def']);
  t.deepEqual(Array.from(tok2.encode('abc def')), [4, 5]);
  // empty matches are skipped
  const tok3 = WordTokenizer.fromText('ab  cd', { pattern: /[a-z]*/g });
  t.deepEqual(tok3.tokens().slice(4), ['ab', 'cd']);
});

// ---------------------------------------------------------------------------
// JSON

test('toJSON has the versioned format; fromJSON round trips exactly', (t) => {
  const c = CharTokenizer.fromText('Zoë 🙂 zoe', { lowercase: true, minFrequency: 1, maxVocab: 8 });
  const cj = c.toJSON();
  t.is(cj.format, 'rnnkit-tokenizer');
  t.is(cj.version, 1);
  t.is(cj.kind, 'char');
  t.deepEqual(cj.options, { lowercase: true, minFrequency: 1, maxVocab: 8 });
  t.deepEqual(cj.tokens, c.tokens());
  const w = WordTokenizer.fromText("It's a well-known fact.", { pattern: /[\w'-]+|[^\s\w]/iu, minFrequency: 1 });
  const wj = w.toJSON();
  t.deepEqual(wj.options, { lowercase: true, pattern: { source: "[\\w'-]+|[^\\s\\w]", flags: 'giu' }, minFrequency: 1, maxVocab: null });
  for (const tok of [c, w, CharTokenizer.fromText('abc'), WordTokenizer.fromText('a b b')]) {
    const json = viaJSON(tok);
    const again = tokenizerFromJSON(json);
    t.is(again.constructor, tok.constructor);
    t.deepEqual(again.toJSON(), tok.toJSON());
    t.deepEqual(again.tokens(), tok.tokens());
    t.deepEqual(again.options, tok.options);
    for (const token of tok.tokens()) t.is(again.idOf(token), tok.idOf(token));
    t.deepEqual(again.encode("it's Zoë 🙂"), tok.encode("it's Zoë 🙂"));
  }
  t.true(CharTokenizer.fromJSON(viaJSON(c)) instanceof CharTokenizer);
  t.true(WordTokenizer.fromJSON(viaJSON(w)) instanceof WordTokenizer);
  t.is(WordTokenizer.fromJSON(viaJSON(w)).options.pattern.flags, 'giu');
  t.is(CharTokenizer.fromText('a').options.maxVocab, Infinity);
  t.is(CharTokenizer.fromJSON(viaJSON(CharTokenizer.fromText('a'))).options.maxVocab, Infinity);
});

test('fromJSON copies its input', (t) => {
  const json = viaJSON(CharTokenizer.fromText('ab'));
  const tok = CharTokenizer.fromJSON(json);
  json.tokens[4] = 'z';
  t.is(tok.tokenOf(4), 'a');
});

/** Valid JSON of each kind, fresh for every mutation. */
function charJSON(): any {
  return viaJSON(CharTokenizer.fromText('aabc'));
}
function wordJSON(): any {
  return viaJSON(WordTokenizer.fromText('the cat the dog'));
}

test('fromJSON rejects a wrong envelope (json, format, version, kind, keys)', (t) => {
  for (const from of [tokenizerFromJSON, CharTokenizer.fromJSON, WordTokenizer.fromJSON]) {
    throwsNamed(t, () => from(null), TypeError, 'json');
    throwsNamed(t, () => from('{}'), TypeError, 'json');
    throwsNamed(t, () => from([]), TypeError, 'json');
    throwsNamed(t, () => from({ ...charJSON(), format: undefined }), TypeError, 'json.format');
    throwsNamed(t, () => from({ ...charJSON(), format: 'rnnkit-model' }), RangeError, 'json.format');
    throwsNamed(t, () => from({ ...charJSON(), version: '1' }), TypeError, 'json.version');
    throwsNamed(t, () => from({ ...charJSON(), version: 2 }), RangeError, 'json.version');
    throwsNamed(t, () => from({ ...charJSON(), kind: 3 }), TypeError, 'json.kind');
    throwsNamed(t, () => from({ ...charJSON(), kind: 'bpe' }), RangeError, 'json.kind');
  }
  throwsNamed(t, () => CharTokenizer.fromJSON(wordJSON()), RangeError, 'json.kind', /'char'/);
  throwsNamed(t, () => WordTokenizer.fromJSON(charJSON()), RangeError, 'json.kind', /'word'/);
  throwsNamed(t, () => tokenizerFromJSON({ ...charJSON(), extra: 1 }), TypeError, 'json', /unknown key 'extra'/);
});

test('fromJSON rejects bad options', (t) => {
  const cases: [(j: any) => void, Ctor, string][] = [
    [(j) => delete j.options, TypeError, 'json.options'],
    [(j) => (j.options = []), TypeError, 'json.options'],
    [(j) => (j.options.extra = true), TypeError, 'json.options'],
    [(j) => delete j.options.lowercase, TypeError, 'json.options.lowercase'],
    [(j) => (j.options.minFrequency = 0), RangeError, 'json.options.minFrequency'],
    [(j) => (j.options.minFrequency = null), TypeError, 'json.options.minFrequency'],
    [(j) => (j.options.maxVocab = 4), RangeError, 'json.options.maxVocab'],
    [(j) => (j.options.maxVocab = '10'), TypeError, 'json.options.maxVocab'],
    [(j) => delete j.options.maxVocab, TypeError, 'json.options.maxVocab'],
  ];
  for (const make of [charJSON, wordJSON]) {
    for (const [mutate, cls, name] of cases) {
      const j = make();
      mutate(j);
      throwsNamed(t, () => tokenizerFromJSON(j), cls, name);
    }
  }
  const bad = (mutate: (j: any) => void) => {
    const j = wordJSON();
    mutate(j);
    return () => tokenizerFromJSON(j);
  };
  throwsNamed(
    t,
    bad((j) => (j.options.pattern = '\\S+')),
    TypeError,
    'json.options.pattern',
  );
  throwsNamed(
    t,
    bad((j) => delete j.options.pattern),
    TypeError,
    'json.options.pattern',
  );
  throwsNamed(
    t,
    bad((j) => (j.options.pattern = { source: '\\S+' })),
    TypeError,
    'json.options.pattern',
  );
  throwsNamed(
    t,
    bad((j) => (j.options.pattern = { source: '(', flags: 'g' })),
    RangeError,
    'json.options.pattern',
  );
  throwsNamed(
    t,
    bad((j) => (j.options.pattern = { source: 'a', flags: 'gq' })),
    RangeError,
    'json.options.pattern',
  );
  throwsNamed(
    t,
    bad((j) => (j.options.pattern = { source: '\\S+', flags: 'u' })),
    RangeError,
    'json.options.pattern.flags',
  );
  throwsNamed(t, () => CharTokenizer.fromJSON({ ...charJSON(), options: wordJSON().options }), TypeError, 'json.options', /pattern/);
});

test('fromJSON rejects a corrupted token list', (t) => {
  const bad = (make: () => any, mutate: (tokens: any[], j: any) => void) => {
    const j = make();
    mutate(j.tokens, j);
    return () => tokenizerFromJSON(j);
  };
  for (const make of [charJSON, wordJSON]) {
    throwsNamed(
      t,
      bad(make, (_, j) => (j.tokens = 'abc')),
      TypeError,
      'json.tokens',
    );
    throwsNamed(
      t,
      bad(make, (_, j) => delete j.tokens),
      TypeError,
      'json.tokens',
    );
    throwsNamed(
      t,
      bad(make, (tk) => tk.splice(3)),
      RangeError,
      'json.tokens',
    );
    throwsNamed(
      t,
      bad(make, (tk) => (tk[5] = 7)),
      TypeError,
      'json.tokens[5]',
    );
    throwsNamed(
      t,
      bad(make, (tk) => ([tk[0], tk[1]] = [tk[1], tk[0]])),
      RangeError,
      'json.tokens[0]',
      /'<pad>'/,
    );
    throwsNamed(
      t,
      bad(make, (tk) => (tk[3] = '<EOS>')),
      RangeError,
      'json.tokens[3]',
    );
    throwsNamed(
      t,
      bad(make, (tk) => (tk[5] = tk[4])),
      RangeError,
      'json.tokens[5]',
      /duplicate of json\.tokens\[4\]/,
    );
    throwsNamed(
      t,
      bad(make, (tk) => tk.push('<unk>')),
      RangeError,
      `json.tokens[${make().tokens.length}]`,
      /duplicate of json\.tokens\[1\]/,
    );
    throwsNamed(
      t,
      bad(make, (tk) => (tk[4] = '')),
      RangeError,
      'json.tokens[4]',
    );
    throwsNamed(
      t,
      bad(make, (tk, j) => ((j.options.maxVocab = 5), tk)),
      RangeError,
      'json.tokens',
      /at most 5/,
    );
  }
  throwsNamed(
    t,
    bad(charJSON, (tk) => (tk[4] = 'ab')),
    RangeError,
    'json.tokens[4]',
    /code point/,
  );
  t.notThrows(() => tokenizerFromJSON({ ...charJSON(), tokens: [...SPECIALS, '🙂'] }));
  t.notThrows(() => tokenizerFromJSON({ ...wordJSON(), tokens: [...SPECIALS, 'multi char'] }));
});

// ---------------------------------------------------------------------------
// Argument errors

test('fromText rejects bad text and options', (t) => {
  for (const Cls of [CharTokenizer, WordTokenizer] as const) {
    const from = (text: unknown, options?: unknown) => () => Cls.fromText(text as string, options as object);
    throwsNamed(t, from(42), TypeError, 'text');
    throwsNamed(t, from(undefined), TypeError, 'text');
    throwsNamed(t, from(new String('abc')), TypeError, 'text');
    throwsNamed(t, from(['a', 3]), TypeError, 'text[1]');
    throwsNamed(t, from('a', 'lowercase'), TypeError, 'options');
    throwsNamed(t, from('a', null), TypeError, 'options');
    throwsNamed(t, from('a', { minFreq: 2 }), TypeError, 'options', /unknown key 'minFreq'/);
    throwsNamed(t, from('a', { lowercase: 'yes' }), TypeError, 'options.lowercase');
    throwsNamed(t, from('a', { minFrequency: '2' }), TypeError, 'options.minFrequency');
    throwsNamed(t, from('a', { minFrequency: 0 }), RangeError, 'options.minFrequency');
    throwsNamed(t, from('a', { minFrequency: 1.5 }), RangeError, 'options.minFrequency');
    throwsNamed(t, from('a', { minFrequency: NaN }), RangeError, 'options.minFrequency');
    throwsNamed(t, from('a', { maxVocab: '10' }), TypeError, 'options.maxVocab');
    throwsNamed(t, from('a', { maxVocab: 4 }), RangeError, 'options.maxVocab', /\[5, /);
    throwsNamed(t, from('a', { maxVocab: 10.5 }), RangeError, 'options.maxVocab');
    throwsNamed(t, from('a', { maxVocab: -Infinity }), RangeError, 'options.maxVocab');
    throwsNamed(t, from('a', { maxVocab: NaN }), RangeError, 'options.maxVocab');
    throwsNamed(t, from('a', { maxVocab: 2 ** 31 }), RangeError, 'options.maxVocab');
    t.notThrows(from('a', { maxVocab: 5, minFrequency: 3, lowercase: true }));
    t.notThrows(from('a', {}));
  }
  throwsNamed(t, () => CharTokenizer.fromText('a', { pattern: /./g } as object), TypeError, 'options', /unknown key 'pattern'/);
  throwsNamed(t, () => WordTokenizer.fromText('a', { pattern: '\\S+' as unknown as RegExp }), TypeError, 'options.pattern');
});

test('encode / decode / oneHot / idOf / tokenOf reject bad arguments', (t) => {
  const tok = CharTokenizer.fromText('abc'); // size 7
  const any = tok as any;
  throwsNamed(t, () => any.encode(5), TypeError, 'text');
  throwsNamed(t, () => any.encode(['a']), TypeError, 'text');
  throwsNamed(t, () => any.encode('a', null), TypeError, 'options');
  throwsNamed(t, () => any.encode('a', { bos: true }), TypeError, 'options', /unknown key 'bos'/);
  throwsNamed(t, () => any.encode('a', { addBos: 1 }), TypeError, 'options.addBos');
  throwsNamed(t, () => any.encode('a', { addEos: 'yes' }), TypeError, 'options.addEos');
  for (const method of ['decode', 'oneHot'] as const) {
    const call = (ids: unknown) => () => any[method](ids);
    throwsNamed(t, call('abc'), TypeError, 'ids');
    throwsNamed(t, call(undefined), TypeError, 'ids');
    throwsNamed(t, call(new Float32Array([1])), TypeError, 'ids');
    throwsNamed(t, call(new Uint8Array([1])), TypeError, 'ids');
    throwsNamed(t, call([1, '2']), TypeError, 'ids[1]');
    throwsNamed(t, call([1, null]), TypeError, 'ids[1]');
    throwsNamed(t, call([1, 7]), RangeError, 'ids[1]', /\[0, 6\]/);
    throwsNamed(t, call([-1]), RangeError, 'ids[0]');
    throwsNamed(t, call([1.5]), RangeError, 'ids[0]');
    throwsNamed(t, call([NaN]), RangeError, 'ids[0]');
    throwsNamed(t, call(Int32Array.from([4, 99])), RangeError, 'ids[1]');
    throwsNamed(t, call(Int32Array.from([-3])), RangeError, 'ids[0]');
  }
  throwsNamed(t, () => any.decode([1], 'x'), TypeError, 'options');
  throwsNamed(t, () => any.decode([1], { skip: true }), TypeError, 'options', /unknown key 'skip'/);
  throwsNamed(t, () => any.decode([1], { skipSpecial: 'no' }), TypeError, 'options.skipSpecial');
  throwsNamed(t, () => any.idOf(4), TypeError, 'token');
  throwsNamed(t, () => any.tokenOf('4'), TypeError, 'id');
  throwsNamed(t, () => any.tokenOf(7), RangeError, 'id');
  throwsNamed(t, () => any.tokenOf(-1), RangeError, 'id');
  throwsNamed(t, () => any.tokenOf(0.5), RangeError, 'id');
});

test('TokenizerJSON type matches toJSON output', (t) => {
  const json: TokenizerJSON = WordTokenizer.fromText('a').toJSON();
  t.is(json.kind, 'word');
  if (json.kind === 'word') t.is(typeof json.options.pattern.source, 'string');
});
