// gen_reference.js writes the tokenizer reference data of trainer/tokenizer's
// tests with Hugging Face's tokenizers library (the npm package is the napi
// binding of the Rust library, so these are the Rust library's answers).
//
//   cd scripts/tokenizer && npm install && node gen_reference.js
//
// It
//  1. writes a multilingual training corpus (corpus_base.txt plus seeded,
//     generated lines full of odd white space, scripts and emoji),
//  2. trains byte-level BPE models on it with the library's BpeTrainer and
//     builds tokenizer files around them: BLOOM's exact pipeline, a GPT-2
//     style ByteLevel(use_regex) pipeline with "a b" merges, one with added
//     tokens (lstrip, rstrip, single_word, normalized) and a template, and one
//     with a lowercase normalizer, a Llama-3 style Split regex and Roberta
//     post-processing,
//  3. encodes and decodes hundreds of test strings with each and writes the
//     answers (ids, tokens, character offsets, decodes) as JSON,
//  4. if `go` is on the PATH, trains a tokenizer with our Go trainer
//     (bloomctl tokenizer train), checks that the library loads it and that
//     our encoder (bloomctl tokenize) gives the library's ids, and keeps the
//     file and the library's encodings too.
//
// The Node binding's train() uses the model's default BpeTrainer (vocab
// 30000, no special tokens, alphabet from the corpus). A trainer with
// special tokens puts them first and shifts every other id by their number,
// and merges are chosen greedily, so a smaller vocabulary is a prefix of the
// merges: the script makes both changes to the trained file, which gives
// exactly what BpeTrainer(vocab_size=N, special_tokens=[...]) would give.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const tk = require('tokenizers');

const ROOT = path.join(__dirname, '..', '..');
const OUT = path.join(ROOT, 'trainer', 'tokenizer', 'testdata');
const LIBRARY = 'tokenizers@' + require('tokenizers/package.json').version;
const BLOOM_SPLIT = ' ?[^(\\s|[.,!?…。，、।۔،])]+';
const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const SPECIALS = ['<unk>', '<s>', '</s>', '<pad>'];

// mulberry32 is a small seeded PRNG, so the generated text never changes.
function mulberry32(seed) {
  return function () {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOLS = {
  ascii: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.split(''),
  digits: '0123456789'.split(''),
  punct: '.,!?;:\'"()[]{}<>|/\\-_=+*&^%$#@~`'.split(''),
  spaces: [' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u2009', '\u3000', '\u000b', '\u000c', '\u0085', '\u2028', '\u200b', '\u200d'],
  bloomStops: ['…', '。', '，', '、', '।', '۔', '،', '(', ')', '|'],
  cjk: '人工智能日本語中文字한국어東京北京天気'.split(''),
  arabic: 'العربيةمرحبا'.split(''),
  devanagari: ['ह', 'ि', 'न', '्', 'द', 'ी', 'भ', 'ा', 'र', 'त', 'ं'],
  emoji: ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '❤️', '🤖', '🏳️‍🌈', '👩🏻‍💻'],
  marks: ['\u0301', '\u0303', '\u0308', '\u0327', '\u093c'],
  fragments: ['<s>', '</s>', '<unk>', '<pad>', '<mask>', '<MASK>', '[SEP]', '<|endoftext|>', '<|im_start|>', 'hello', 'Hello', 'world', 'WORLD', '日本', 'ab', 'abc', ' spaced token', '<', '>', '</', "'s", "'ll", "'re", "n't", 'Ġ', 'Ċ', 'ĠHello'],
  words: [],
};

function pick(rng, a) { return a[Math.floor(rng() * a.length)]; }

// randomText mixes units from the pools.
function randomText(rng, units, names = Object.keys(POOLS)) {
  let s = '';
  for (let i = 0; i < units; i++) s += pick(rng, POOLS[pick(rng, names)]);
  return s;
}

function buildCorpus() {
  const base = fs.readFileSync(path.join(__dirname, 'corpus_base.txt'), 'utf8');
  POOLS.words = Array.from(new Set(base.split(/\s+/).filter((w) => w)));
  const rng = mulberry32(20240601);
  const lines = [base];
  const seps = [' ', ' ', ' ', ' ', '  ', '\t', '\u00a0', ' \u3000', ', ', '. ', '… ', '。', '، ', '। ', ' | ', '\u2009'];
  while (lines.join('').length < 36000) {
    const n = 3 + Math.floor(rng() * 14);
    let line = '';
    for (let i = 0; i < n; i++) line += (i ? pick(rng, seps) : '') + pick(rng, POOLS.words);
    // No fragments: a special token's string in the corpus would make the
    // shifted Node-trained ids differ from a trainer given special tokens.
    if (rng() < 0.15) line += ' ' + randomText(rng, 1 + Math.floor(rng() * 6), Object.keys(POOLS).filter((k) => k !== 'fragments'));
    if (rng() < 0.1) line = '    ' + line;
    lines.push(line + (rng() < 0.1 ? '\r\n' : '\n'));
  }
  return lines.join('');
}

function emptyBPE() {
  return { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
    end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: {}, merges: [] };
}

function tokenizerJSON(parts) {
  return Object.assign({ version: '1.0', truncation: null, padding: null, added_tokens: [],
    normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, model: emptyBPE() }, parts);
}

const bloomPre = { type: 'Sequence', pretokenizers: [
  { type: 'Split', pattern: { Regex: BLOOM_SPLIT }, behavior: 'Isolated', invert: false },
  { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
] };
const gpt2Pre = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
const byteLevelDecoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };

// train runs the library's default BpeTrainer over the corpus file and
// returns the trained model section.
function train(preTokenizer, corpusPath) {
  const t = tk.Tokenizer.fromString(JSON.stringify(tokenizerJSON({ pre_tokenizer: preTokenizer })));
  t.train([corpusPath]);
  const tmp = path.join(os.tmpdir(), `bloom-tok-${process.pid}.json`);
  t.save(tmp, false);
  const model = JSON.parse(fs.readFileSync(tmp, 'utf8')).model;
  fs.unlinkSync(tmp);
  return model;
}

// withSpecials shifts every id by the number of special tokens, puts them
// first, and keeps merges until the vocabulary holds vocabSize tokens: what
// BpeTrainer(vocab_size, special_tokens) gives.
function withSpecials(model, specials, vocabSize) {
  const vocab = {};
  specials.forEach((s, i) => { vocab[s] = i; });
  const byId = Object.entries(model.vocab).sort((a, b) => a[1] - b[1]);
  const merged = new Set(model.merges.map(([a, b]) => a + b));
  for (const [tok] of byId) if (!merged.has(tok) && !(tok in vocab)) vocab[tok] = Object.keys(vocab).length;
  const merges = [];
  for (const [a, b] of model.merges) {
    if (Object.keys(vocab).length >= vocabSize) break;
    merges.push([a, b]);
    if (!((a + b) in vocab)) vocab[a + b] = Object.keys(vocab).length;
  }
  return Object.assign(emptyBPE(), { vocab, merges });
}

function added(id, content, o = {}) {
  return Object.assign({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false }, o);
}

function specialTokens() {
  return SPECIALS.map((s, i) => added(i, s, { special: true }));
}

function buildTokenizers(corpusPath) {
  const bloomModel = withSpecials(train(bloomPre, corpusPath), SPECIALS, 3000);
  const gpt2Model = withSpecials(train(gpt2Pre, corpusPath), ['<|endoftext|>'], 2000);
  const gpt2Legacy = Object.assign({}, gpt2Model, { merges: gpt2Model.merges.map(([a, b]) => `${a} ${b}`) });
  const nb = Object.keys(bloomModel.vocab).length;
  const ng = Object.keys(gpt2Model.vocab).length;
  return {
    bloom: tokenizerJSON({
      added_tokens: specialTokens(), pre_tokenizer: bloomPre,
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: false },
      decoder: byteLevelDecoder, model: bloomModel,
    }),
    gpt2: tokenizerJSON({
      added_tokens: [added(0, '<|endoftext|>', { special: true })], pre_tokenizer: gpt2Pre,
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      decoder: byteLevelDecoder, model: gpt2Legacy,
    }),
    added: tokenizerJSON({
      added_tokens: specialTokens().concat([
        added(nb, '<mask>', { lstrip: true, special: true }),
        added(nb + 1, '[SEP]', { rstrip: true, special: true }),
        added(nb + 2, 'hello', { single_word: true, normalized: true }),
        added(nb + 3, 'world', { lstrip: true, rstrip: true, normalized: true }),
        added(nb + 4, '<|im_start|>', { special: true }),
        added(nb + 5, ' spaced token'),
        added(nb + 6, '日本', { single_word: true }),
        added(nb + 7, 'ab'),
        added(nb + 8, 'abc', { normalized: true }),
      ]),
      pre_tokenizer: bloomPre,
      post_processor: { type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } },
      decoder: byteLevelDecoder, model: bloomModel,
    }),
    lower: tokenizerJSON({
      added_tokens: [added(0, '<|endoftext|>', { special: true }),
        added(ng, '<MASK>', { lstrip: true, normalized: true, special: true })],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Lowercase' }] },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_SPLIT }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
      post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', 0], cls: ['<|endoftext|>', 0], trim_offsets: true, add_prefix_space: false },
      decoder: { type: 'Sequence', decoders: [byteLevelDecoder] }, model: gpt2Model,
    }),
  };
}

// miscTokenizers are small hand-made vocabularies for the BPE options the
// trained files do not use: a character-level model with a continuing
// subword prefix, an end-of-word suffix, byte fallback and fused unknown
// tokens; and a byte-level one with ignore_merges (as Llama 3's).
function miscTokenizers() {
  const vocab = { '<unk>': 0 };
  const add = (t) => { if (!(t in vocab)) vocab[t] = Object.keys(vocab).length; };
  for (const c of 'abcdefghijklmnopqrstuvwxyzHW,!') for (const t of [c, '##' + c, c + '</w>', '##' + c + '</w>']) add(t);
  for (let b = 0x80; b < 0xf0; b++) add('<0x' + b.toString(16).toUpperCase() + '>');
  const merges = [['t', '##h'], ['th', '##e</w>'], ['##e', '##r'], ['i', '##n'], ['##i', '##n'], ['##in', '##g</w>'],
    ['a', '##n'], ['an', '##d</w>'], ['##l', '##l'], ['h', '##e'], ['he', '##ll'], ['##o', '##r'], ['w', '##or']];
  for (const [a, b] of merges) add(a + b.slice(2));
  const chars = tokenizerJSON({
    pre_tokenizer: { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Removed', invert: false },
    added_tokens: [added(0, '<unk>', { special: true })],
    model: Object.assign(emptyBPE(), { unk_token: '<unk>', fuse_unk: true, byte_fallback: true,
      continuing_subword_prefix: '##', end_of_word_suffix: '</w>', vocab, merges }),
  });
  const bvocab = {};
  for (const c of tk.byteLevelAlphabet().sort()) bvocab[c] = Object.keys(bvocab).length;
  const bmerges = [['Ġ', 't'], ['Ġt', 'h'], ['Ġth', 'e'], ['h', 'e'], ['l', 'l'], ['he', 'll'], ['o', 'r'], ['w', 'or']];
  for (const [a, b] of bmerges) bvocab[a + b] = Object.keys(bvocab).length;
  for (const w of ['Ġhello', 'Ġworld', 'hello', 'ĠÙħØ±ØŃØ¨Ø§']) bvocab[w] = Object.keys(bvocab).length;
  const ignore = tokenizerJSON({
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: byteLevelDecoder,
    model: Object.assign(emptyBPE(), { ignore_merges: true, vocab: bvocab, merges: bmerges }),
  });
  return { chars, ignore };
}

function testStrings(corpus) {
  const fixed = [
    '', ' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n\n', ' \n ', 'a', ' a', 'a ', '  a', 'a  b', 'a   b', 'a \t b',
    'Hello world', ' Hello world', 'Hello, world!', 'Hello  world', 'Hello\tworld', 'Hello\nworld', 'Hello \nworld',
    '(x)', '|', '||', '...', '…', ' …', '…a', 'a.b', 'a. b', 'a .b', '(a|b)', ' (a) ', '?!', ' ?', '? a',
    '<s>', '<s>Hello</s>', ' <s> ', '<s><s>', '<unk>', '<pad><pad>', '</s>', '<|endoftext|>', 'x<|endoftext|>y',
    '<mask>', ' <mask>', 'a   <mask>  b', '<mask><mask>', '[SEP]  x', 'x [SEP]', '[SEP]\n\n', 'hello', 'hello world',
    'ahello', 'hello_', 'say hello!', 'HELLO', 'worldwide', ' world ', '  world  ', 'a world b', '<|im_start|>user',
    ' spaced token', 'a spaced tokens', '日本', '日本語', 'の日本', 'abc', 'abcd', 'ab ab', 'xabcx', '<MASK>', 'x <MASK> y',
    "I'm", "it's", "'s", "' s", "don't", "'''", "we'll've", "'S", "'LL", "O'Neil's", "rock 'n' roll",
    '12345678', ' 123', '3.14', '1,000,000', '١٢٣٤', '१२३', '₹500', '10⁹',
    '😀', '👨‍👩‍👧‍👦', '🇫🇷🇯🇵', ' 😀 ', '👍🏽👍🏽', '❤️', '🏳️‍🌈', 'a😀b',
    'é', 'e\u0301', 'n\u0303o', 'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇', '\u0301', ' \u0301', 'a\u200db', 'a\u200bb', 'x\u00adx',
    '          x', '\t\t\tx', ' \t x', 'a\u00a0b', '\u00a0\u00a0', '\u3000', 'a\u3000b', '\u2009x', '\u0085x', '\u2028',
    '\u000bx\u000c', '\u0000', '\u0001\u0002', '\u007f', '\ufeffBOM', '\ufffd', 'x\u200e\u200fy',
    '日本語', '人工智能。', '今天天气很好，我们去公园散步吧。', '你好、世界', 'مرحبا،', 'مرحبا، كيف حالك؟', 'نص۔آخر',
    'हिन्दी।', 'क्या आप मेरे साथ चलेंगे?', 'भारत।भारत', 'русский язык', 'Ελληνικά', 'Straße', 'İstanbul', 'ǅ ǈ',
    'Ġ', 'ĠHello', 'Ċ', 'ĠĠĠ', '\u0100\u0101\u0143', 'ÿþ', '¡¬®',
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'ꦲꦤꦕꦫꦏ', '\u1c89\u1c8a', 'x\ud83d\ude00x', '🤖🚀✨', '∑_{i=1}^{n} i', '<html><body>',
    'def f(x):\n    return x\n', 'if err != nil {\n\treturn err\n}', '{"a": [1, 2]}', 'SELECT * FROM t;',
    'https://example.org/path?q=1&x=2#frag', 'someone@example.com',
    'x'.repeat(300), 'ab'.repeat(100), 'The'.repeat(40), '😀'.repeat(30), ' '.repeat(70) + 'x',
    'supercalifragilisticexpialidocious'.repeat(3), '人工智能'.repeat(25), 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  ];
  const rng = mulberry32(7);
  const lines = corpus.split('\n').filter((l) => l.length > 0 && l.length < 300);
  const out = fixed.slice();
  for (let i = 0; i < 60; i++) out.push(pick(rng, lines));
  for (let i = 0; i < 220; i++) out.push(randomText(rng, 1 + Math.floor(rng() * 30)));
  return out;
}

async function encodeAll(tok, strings, extra) {
  const cases = [];
  for (const [i, text] of strings.entries()) {
    const e = await tok.encode(text);
    const c = { text, ids: e.getIds(), tokens: e.getTokens(), offsets: e.getOffsets() };
    c.decoded = await tok.decode(c.ids, false);
    const skip = await tok.decode(c.ids, true);
    if (skip !== c.decoded) c.decoded_skip = skip; // absent: the same

    if (extra && i < 100) c.ids_no_special = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
    cases.push(c);
  }
  return cases;
}

// randomDecodes decodes random id sequences: split characters, lone
// continuation bytes and special tokens in odd places.
async function randomDecodes(tok, n, rng) {
  const size = tok.getVocabSize(true);
  const out = [];
  for (let i = 0; i < n; i++) {
    const ids = [];
    const len = 1 + Math.floor(rng() * 12);
    for (let k = 0; k < len; k++) ids.push(Math.floor(rng() * (size + 3)));
    out.push({ ids, text: await tok.decode(ids, false), skip: await tok.decode(ids, true) });
  }
  return out;
}

// O200K_SPLIT is GPT-4o's pattern (case classes, (?i:...), \p{N}{1,3}).
const O200K_SPLIT = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// splitConfigs are Split pre-tokenizers whose pieces the Go tests check:
// every behaviour, invert, String and Regex patterns, and the regexes RE2
// needs help with.
function splitConfigs() {
  const out = [];
  for (const behavior of ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']) {
    for (const invert of [false, true]) out.push({ type: 'Split', pattern: { String: '-' }, behavior, invert });
    out.push({ type: 'Split', pattern: { Regex: '\\s+' }, behavior, invert: false });
  }
  for (const re of ['\\d+', '[\\w]+', '\\S+', '\\p{L}+|\\p{N}', LLAMA3_SPLIT, O200K_SPLIT, BLOOM_SPLIT,
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"]) {
    out.push({ type: 'Split', pattern: { Regex: re }, behavior: 'Isolated', invert: false });
  }
  out.push({ type: 'Split', pattern: { Regex: '\\d+' }, behavior: 'Removed', invert: true });
  return out;
}

// preTokenizations runs each Split config over strings: the pieces only.
function preTokenizations(strings) {
  return splitConfigs().map((pre) => {
    const t = tk.Tokenizer.fromString(JSON.stringify(tokenizerJSON({ pre_tokenizer: pre })));
    const pt = t.getPreTokenizer();
    return { pre_tokenizer: pre, pieces: strings.map((s) => pt.preTokenizeString(s).map(([p]) => p)) };
  });
}

function header(name) {
  return { generator: 'scripts/tokenizer/gen_reference.js', format: 1, library: LIBRARY, tokenizer: name };
}

function writeJSON(file, v) {
  fs.writeFileSync(path.join(OUT, file), JSON.stringify(v) + '\n');
}

// goTrained trains with our Go trainer, checks the library loads the file
// and that our encoder agrees with it, and returns the file name or null.
async function goTrained(corpusPath, strings) {
  const file = path.join(OUT, 'go_trained.json');
  try {
    execFileSync('go', ['run', './cmd/bloomctl', 'tokenizer', 'train', '--vocab-size', '2500', '--out', file, corpusPath],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (e) {
    console.warn('skipping the Go-trained tokenizer:', e.message);
    return null;
  }
  const hf = tk.Tokenizer.fromFile(file);
  const input = strings.map((s) => JSON.stringify(s)).join('\n') + '\n';
  const ours = execFileSync('go', ['run', './cmd/bloomctl', 'tokenize', '--tokenizer', file], { cwd: ROOT, input })
    .toString().trim().split('\n').map((l) => JSON.parse(l).ids);
  let bad = 0;
  for (let i = 0; i < strings.length; i++) {
    const want = (await hf.encode(strings[i])).getIds();
    if (JSON.stringify(want) !== JSON.stringify(ours[i])) {
      if (bad++ < 5) console.error('MISMATCH', JSON.stringify(strings[i]), want, ours[i]);
    }
  }
  console.log(`Go-trained tokenizer: the library loads it; our encoder matches it on ${strings.length - bad}/${strings.length} strings`);
  if (bad) process.exitCode = 1;
  return 'go_trained.json';
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const corpus = buildCorpus();
  const corpusPath = path.join(OUT, 'corpus.txt');
  fs.writeFileSync(corpusPath, corpus);
  const strings = testStrings(corpus);
  const toks = Object.assign(buildTokenizers(corpusPath), miscTokenizers());
  for (const [name, json] of Object.entries(toks)) {
    const file = `${name}.json`;
    fs.writeFileSync(path.join(OUT, file), JSON.stringify(json) + '\n');
    const tok = tk.Tokenizer.fromFile(path.join(OUT, file));
    const few = name === 'chars' || name === 'ignore';
    const cases = await encodeAll(tok, few ? strings.slice(0, 160) : strings, name === 'added' || name === 'lower');
    const decodes = await randomDecodes(tok, 60, mulberry32(name.length));
    writeJSON(`${name}.ref.json`, Object.assign(header(file), { cases, decodes }));
    console.log(`${file}: ${cases.length} encodings, ${decodes.length} decodes`);
  }
  const rng = mulberry32(11);
  const few = strings.filter(() => rng() < 0.25).concat(['a-b--c', '-x-', '--', 'a1b22c333', "I'M here's", 'ÀBCdef GHi']);
  writeJSON('pretok.ref.json', Object.assign(header(''), { strings: few, splits: preTokenizations(few) }));
  console.log(`pretok.ref.json: ${splitConfigs().length} Split pre-tokenizers, ${few.length} strings`);
  const go = await goTrained(corpusPath, strings);
  if (go) {
    const tok = tk.Tokenizer.fromFile(path.join(OUT, go));
    writeJSON('go_trained.ref.json', Object.assign(header(go), { cases: await encodeAll(tok, strings, false), decodes: [] }));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
