// bench.js measures Hugging Face tokenizers' encode throughput on one
// thread, on the same tokenizer and text as Go's BenchmarkEncode
// (trainer/tokenizer/tokenizer_bench_test.go): the reference corpus ten times
// over, encoded a line at a time.
//
//   cd scripts/tokenizer && node bench.js [tokenizer.json [text file]]
//
// It pins the library to one thread (RAYON_NUM_THREADS=1,
// TOKENIZERS_PARALLELISM=false, set before the library loads) and reports
// encodeBatch over all lines (one call, so JavaScript overhead is paid
// once) and, for scale, one encode of the whole text and a loop of single
// encode calls.
'use strict';

process.env.RAYON_NUM_THREADS = '1';
process.env.TOKENIZERS_PARALLELISM = 'false';

const fs = require('fs');
const path = require('path');
const tk = require('tokenizers');

const ref = path.join(__dirname, '..', '..', 'trainer', 'tokenizer', 'testdata');
const tokPath = process.argv[2] || process.env.BLOOM_TOKENIZER_BENCH || path.join(ref, 'bloom.json');
const textPath = process.argv[3] || process.env.BLOOM_TOKENIZER_BENCH_TEXT;
const text = textPath ? fs.readFileSync(textPath, 'utf8') : fs.readFileSync(path.join(ref, 'corpus.txt'), 'utf8').repeat(10);
const lines = text.split(/(?<=\n)/);
const bytes = Buffer.byteLength(text, 'utf8');

// timeIt reports the best of rounds, by wall clock and by the process's
// CPU time (steadier on a shared machine; the library's worker thread is
// part of the process).
async function timeIt(label, rounds, f) {
  await f(); // warm up: caches, page faults
  let wall = Infinity;
  let cpu = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    await f();
    const c = process.cpuUsage(c0);
    wall = Math.min(wall, Number(process.hrtime.bigint() - t0) / 1e9);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6);
  }
  const mb = bytes / 1e6;
  console.log(`${label}: ${(mb / wall).toFixed(2)} MB/s wall, ${(mb / cpu).toFixed(2)} MB/s CPU time (best of ${rounds}, ${mb.toFixed(2)} MB)`);
}

async function main() {
  const tok = tk.Tokenizer.fromFile(tokPath);
  console.log(`${tokPath}: ${lines.length} lines, ${bytes} bytes`);
  await timeIt('encodeBatch (one thread)', 5, () => tok.encodeBatch(lines));
  await timeIt('encode of the whole text at once', 5, () => tok.encode(text));
  await timeIt('encode loop', 3, async () => {
    for (const l of lines) await tok.encode(l);
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
