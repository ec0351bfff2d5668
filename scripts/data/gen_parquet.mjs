// Parquet fixtures for trainer/data/parquet's reader, written by an independent
// writer: the Rust parquet crate (arrow-rs) compiled to WebAssembly
// (npm parquet-wasm), fed Arrow tables built with apache-arrow.
//
//   cd scripts/data && npm ci && node gen_parquet.mjs
//
// Output: trainer/data/parquet/testdata/ (overwritten): one file
// per codec × data page version × dictionary setting, a directory shaped
// like the seed's Hugging Face enwiki download (id, url, title, text; several
// files and row groups), alpaca instruction data, and expected.json with
// every file's rows, which the Go tests compare against.
import * as arrow from 'apache-arrow';
import * as pq from 'parquet-wasm/node';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = 1;
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', '..', 'trainer', 'data', 'parquet', 'testdata');

// A small deterministic generator (xorshift32), so reruns write the same rows.
let state = 2463534242;
function rand(n) {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % n;
}

const words = ['the', 'garden', 'of', 'BLOOM', 'model', 'Ελληνικά', '中文', '日本語のテキスト',
  'العربية', 'हिन्दी', 'emoji 🤗👩‍👩‍👧', 'e\u0301', 'tab\there', 'line\nbreak', '  spaces  ',
  'punctuation, yes!', '(paren)', 'x|y', '…', '。', 'résumé', 'Zürich', '0123456789'];

function text(maxWords) {
  const n = 1 + rand(maxWords);
  const w = [];
  for (let i = 0; i < n; i++) w.push(words[rand(words.length)]);
  return w.join(rand(4) === 0 ? '\n' : ' ');
}

function write(name, table, props) {
  const ipc = arrow.tableToIPC(table, 'stream');
  const bytes = pq.writeParquet(pq.Table.fromIPCStream(ipc), props);
  const p = path.join(out, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, bytes);
  return p;
}

// props: PLAIN is the encoding without a dictionary and the fallback when a
// dictionary outgrows dictBytes, as pyarrow does (arrow-rs would pick
// DELTA_BYTE_ARRAY for v2 pages unless told).
function props({ codec, v2, dict, rowGroup = 1 << 20, pageBytes = 1 << 20, dictBytes = 1 << 20, batch = 1024,
  encoding = pq.Encoding.PLAIN }) {
  return new pq.WriterPropertiesBuilder()
    .setEncoding(encoding)
    .setCompression(codec)
    .setWriterVersion(v2 ? pq.WriterVersion.V2 : pq.WriterVersion.V1)
    .setDictionaryEnabled(dict)
    .setMaxRowGroupSize(rowGroup)
    .setDataPageSizeLimit(pageBytes)
    .setDictionaryPageSizeLimit(dictBytes)
    .setWriteBatchSize(batch)
    .build();
}

// stringTable makes a table of utf8 columns; nullable ones become OPTIONAL.
function stringTable(cols) {
  const fields = [], data = {};
  for (const [name, values, nullable] of cols) {
    fields.push(new arrow.Field(name, new arrow.Utf8(), nullable));
    data[name] = arrow.vectorFromArray(values, new arrow.Utf8());
  }
  const batch = new arrow.RecordBatch(new arrow.Schema(fields), arrow.makeData({
    type: new arrow.Struct(fields), length: cols[0][1].length, nullCount: 0,
    children: fields.map((f) => data[f.name].data[0]),
  }));
  return new arrow.Table([batch]);
}

// expected.files maps each file to a key of expected.rows: its columns.
const expected = { version: VERSION, files: {}, rows: {} };

function record(file, key, columns) {
  expected.files[path.relative(out, file)] = key;
  expected.rows[key] = columns;
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

// 1. Codec × page version × dictionary: 60 rows, a nullable text column with
// nulls, empty strings and repeats, a required id column; several pages and
// row groups.
const codecs = { none: pq.Compression.UNCOMPRESSED, snappy: pq.Compression.SNAPPY,
  gzip: pq.Compression.GZIP, zstd: pq.Compression.ZSTD };
const texts = [], ids = [];
for (let i = 0; i < 60; i++) {
  ids.push(`id-${i}`);
  const r = rand(10);
  texts.push(r === 0 ? null : r === 1 ? '' : r === 2 ? 'repeat me' : text(40));
}
for (const [cname, codec] of Object.entries(codecs)) {
  for (const v2 of [false, true]) {
    for (const dict of [false, true]) {
      const f = write(`matrix/${cname}_v${v2 ? 2 : 1}_${dict ? 'dict' : 'plain'}.parquet`,
        stringTable([['id', ids, false], ['text', texts, true]]),
        props({ codec, v2, dict, rowGroup: 25, pageBytes: 256, dictBytes: 512, batch: 8 }));
      record(f, 'matrix', { id: ids, text: texts });
    }
  }
}

// The delta byte-array encodings (v2 writers' choice without a dictionary):
// 300 rows, so the lengths span several delta blocks of 128.
const dIds = [], dTexts = [];
for (let i = 0; i < 300; i++) {
  dIds.push(`https://en.wikipedia.org/wiki?curid=${1000 + 7 * i}`);
  dTexts.push(texts[i % texts.length]);
}
for (const [name, encoding] of [['delta_length', pq.Encoding.DELTA_LENGTH_BYTE_ARRAY], ['delta_byte_array', pq.Encoding.DELTA_BYTE_ARRAY]]) {
  const f = write(`delta/${name}.parquet`, stringTable([['id', dIds, false], ['text', dTexts, true]]),
    props({ codec: pq.Compression.SNAPPY, v2: true, dict: false, encoding, rowGroup: 200 }));
  record(f, 'delta', { id: dIds, text: dTexts });
}

// What this reader rejects, for the error paths: a compression it lacks and
// a column that is not a string.
const lz = write('unsupported/lz4_raw.parquet', stringTable([['text', texts.slice(0, 10), true]]),
  props({ codec: pq.Compression.LZ4_RAW, v2: false, dict: false }));
record(lz, 'lz4', { text: texts.slice(0, 10) });
{
  const t = arrow.tableFromArrays({ n: Int32Array.from([1, 2, 3]) });
  const f = write('unsupported/int_column.parquet', t, props({ codec: pq.Compression.UNCOMPRESSED, v2: false, dict: false }));
  expected.files[path.relative(out, f)] = 'ints';
}

// 2. enwiki-shaped download: a directory of parquet files with id, url,
// title, text (pyarrow/HF write them all nullable); snappy, dictionary on
// (falling back to PLAIN for long text), row groups of 16 rows.
for (let k = 0; k < 2; k++) {
  const n = 40 + 7 * k, cols = { id: [], url: [], title: [], text: [] };
  for (let i = 0; i < n; i++) {
    const id = String(1000 * k + i);
    cols.id.push(id);
    cols.url.push(`https://en.wikipedia.org/wiki?curid=${id}`);
    cols.title.push(text(3));
    cols.text.push(i === 5 ? '' : text(i === 7 ? 600 : 60));
  }
  const f = write(`enwiki/train-0000${k}-of-00002.parquet`,
    stringTable([['id', cols.id, true], ['url', cols.url, true], ['title', cols.title, true], ['text', cols.text, true]]),
    props({ codec: pq.Compression.SNAPPY, v2: false, dict: true, rowGroup: 16, dictBytes: 4096 }));
  record(f, `enwiki${k}`, cols);
}

// 3. Alpaca-shaped instruction data (tatsu-lab/alpaca's columns).
const alpaca = { instruction: [], input: [], output: [], text: [] };
for (let i = 0; i < 12; i++) {
  alpaca.instruction.push(`Instruction ${i}: ${text(8)}`);
  alpaca.input.push(i % 3 === 0 ? '' : text(10));
  alpaca.output.push(i === 4 ? 'It says ### Response: inside.' : text(20));
  alpaca.text.push('unused');
}
const af = write('alpaca/train-00000-of-00001.parquet',
  stringTable([['instruction', alpaca.instruction, true], ['input', alpaca.input, true],
    ['output', alpaca.output, true], ['text', alpaca.text, true]]),
  props({ codec: pq.Compression.ZSTD, v2: false, dict: true, rowGroup: 5 }));
record(af, 'alpaca', alpaca);

fs.writeFileSync(path.join(out, 'expected.json'), JSON.stringify(expected, null, 1) + '\n');
console.error(`wrote ${Object.keys(expected.files).length} parquet files under ${out}`);
