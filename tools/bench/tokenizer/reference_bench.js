// Times Hugging Face tokenizers (the Rust library through its npm binding) on the same corpus
// and chunks as sieve-tokenizer-bench, and counts chunks whose ids differ from sieve's.
// Usage: node reference_bench.js <tokenizer.json> <corpus.txt> [<sieve ids.bin>] [--records]
// --records: split the corpus at U+001E instead of 4 KB chunks (differential tests).
const { Tokenizer } = require('tokenizers');
const fs = require('fs');

// Same rule as the C++ bench: end at the last UTF-8 character boundary <= 4096 bytes.
function chunksOf(buf, size) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    let end = Math.min(buf.length, pos + size);
    while (end < buf.length && end > pos && (buf[end] & 0xc0) === 0x80) end--;
    out.push(buf.subarray(pos, end).toString('utf8'));
    pos = end;
  }
  return out;
}

function readIds(path, count) {
  const b = fs.readFileSync(path);
  const out = [];
  let off = 0;
  for (let i = 0; i < count && off < b.length; i++) {
    const n = b.readInt32LE(off);
    off += 4;
    const ids = [];
    for (let k = 0; k < n; k++, off += 4) ids.push(b.readInt32LE(off));
    out.push(ids);
  }
  return out;
}

async function main() {
  const args = process.argv.slice(2).filter((a) => a !== '--records');
  const records = process.argv.includes('--records');
  const [tokPath, corpusPath, idsPath] = args;
  const tok = Tokenizer.fromFile(tokPath);
  const corpus = fs.readFileSync(corpusPath);
  const chunks = records ? corpus.toString('utf8').split('\x1e') : chunksOf(corpus, 4096);
  const opts = { addSpecialTokens: false };
  // Warm up, then time one pass (the reference keeps its own word cache across calls).
  for (let i = 0; i < Math.min(50, chunks.length); i++) await tok.encode(chunks[i], null, opts);
  const results = new Array(chunks.length);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < chunks.length; i++) results[i] = await tok.encode(chunks[i], null, opts);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let mismatches = -1;
  if (idsPath) {
    const ours = readIds(idsPath, chunks.length);
    mismatches = 0;
    for (let i = 0; i < chunks.length; i++) {
      const ref = results[i].getIds();
      const o = ours[i] || [];
      if (ref.length !== o.length || ref.some((v, k) => v !== o[k])) {
        if (mismatches < 3) console.error(`chunk ${i} differs: ${JSON.stringify(chunks[i].slice(0, 80))}`);
        mismatches++;
      }
    }
  }
  console.log(`ref_mb_per_s=${(corpus.length / 1e6 / seconds).toFixed(2)} seconds=${seconds.toFixed(3)} ` +
              `chunks=${chunks.length} mismatches=${mismatches}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
