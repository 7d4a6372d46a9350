// Serving benchmark of `sieve serve` on the CPU backend (a figure, not a test):
//   1. HTTP overhead: a 1-token request to the tiny default model, round trip p50/p99,
//      next to the 2 ms target.
//   2. Throughput of a ~1 GB Qwen3-MoE at concurrency 1, 16 and 64 (streaming): output
//      tokens/s and time to first token p50/p99.
//   3. Prefix caching: time to first token of requests sharing a 1k-token prefix, with the
//      cache against without it, as a ratio.
// Usage: node tools/bench/serve/serve_bench.mjs [--sieve build/release/bin/sieve]
//        [--model DIR] (default: makes the ~1 GB model under /tmp) [--threads 2]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const SIEVE = path.resolve(arg('sieve', 'build/release/bin/sieve'));
const BUILD = path.dirname(path.dirname(SIEVE));
const THREADS = arg('threads', '2');
const TOKENIZER = path.join(BUILD, 'models/qwen3-tokenizer');

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function start(args) {
  const proc = spawn(SIEVE, ['serve', '--host', '127.0.0.1', '--port', '0', '--threads', THREADS, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      log += d;
      const m = log.match(/on http:\/\/[\d.]+:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (c) => reject(new Error(`sieve serve exited ${c}:\n${log}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise((r) => { proc.on('exit', r); proc.kill('SIGTERM'); }),
  };
}

// One streamed completion: time to first token and tokens received.
async function stream(url, body) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, return_token_ids: true }),
  });
  if (res.status !== 200) throw new Error(`${res.status}: ${await res.text()}`);
  let ttft = null;
  let tokens = 0;
  const decoder = new TextDecoder();
  let buf = '';
  for await (const part of res.body) {
    buf += decoder.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const n = JSON.parse(ev.slice(6)).choices[0]?.token_ids?.length ?? 0;
      if (n > 0 && ttft === null) ttft = performance.now() - t0;
      tokens += n;
    }
  }
  return { ttft, tokens, e2e: performance.now() - t0 };
}

const rows = [];
const row = (figure, value, reference, ratio) => rows.push({ figure, value, reference, ratio });

// 1. HTTP overhead: 1-token requests, one at a time. On `make-checkpoint`'s tiny model
//    (vocabulary 1024) the forward step is ~0.2 ms, so this is the front end's cost; the
//    built-in default model carries Qwen3's 151k vocabulary, whose lm_head dominates its step.
async function roundTrip(flags) {
  const s = await start(flags);
  const lat = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    const r = await fetch(`${s.url}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: [1], max_tokens: 1 }),
    });
    await r.text();
    if (i >= 50) lat.push(performance.now() - t0);  // the first 50 warm up
  }
  await s.stop();
  return lat;
}
{
  const tiny = '/tmp/sieve-bench-tiny';
  if (!fs.existsSync(`${tiny}/config.json`)) {
    execFileSync(SIEVE, ['make-checkpoint', '--like', 'qwen3_moe', '--out', tiny], { stdio: 'ignore' });
  }
  const lat = await roundTrip(['--model', tiny]);
  const p50 = quantile(lat, 0.5);
  row('1-token round trip, tiny model (vocab 1024), p50', `${p50.toFixed(2)} ms`, 'target 2 ms', (2 / p50).toFixed(2));
  row('1-token round trip, tiny model (vocab 1024), p99', `${quantile(lat, 0.99).toFixed(2)} ms`, '', '');
  const dflt = await roundTrip([]);
  row('1-token round trip, default model (vocab 151669), p50', `${quantile(dflt, 0.5).toFixed(2)} ms`, 'target 2 ms', (2 / quantile(dflt, 0.5)).toFixed(2));
}

// 2. Throughput on a ~1 GB Qwen3-MoE.
let model = arg('model');
if (!model) {
  model = '/tmp/sieve-bench-qwen3-moe-1gb';
  if (!fs.existsSync(`${model}/config.json`)) {
    execFileSync(SIEVE, ['make-checkpoint', '--like', 'qwen3_moe', '--layers', '8', '--hidden', '1024',
      '--heads', '16', '--kv-heads', '4', '--head-dim', '64', '--experts', '32', '--top-k', '4',
      '--moe-intermediate', '512', '--tie-embeddings', '--tokenizer', TOKENIZER, '--out', model],
    { stdio: 'inherit' });
  }
}
const bytes = fs.readdirSync(model).filter((f) => f.endsWith('.safetensors'))
  .reduce((a, f) => a + fs.statSync(path.join(model, f)).size, 0);
console.error(`model ${model}: ${(bytes / 1e9).toFixed(2)} GB`);
const randomPrompt = (n, seed) => Array.from({ length: n }, (_, i) => 1000 + ((seed * 7919 + i * 104729) % 100000));
{
  const s = await start(['--model', model, '--max-num-seqs', '64']);
  await stream(s.url, { prompt: randomPrompt(16, 999), max_tokens: 4, ignore_eos: true });  // warm-up
  let single = null;
  for (const conc of [1, 16, 64]) {
    const t0 = performance.now();
    const res = await Promise.all(Array.from({ length: conc }, (_, i) =>
      stream(s.url, { prompt: randomPrompt(128, conc * 1000 + i), max_tokens: 64, ignore_eos: true, temperature: 0 })));
    const secs = (performance.now() - t0) / 1000;
    const toks = res.reduce((a, r) => a + r.tokens, 0);
    const tps = toks / secs;
    if (conc === 1) single = tps;
    const ttfts = res.map((r) => r.ttft);
    row(`concurrency ${conc}: output tok/s`, tps.toFixed(1), conc === 1 ? '' : `concurrency 1: ${single.toFixed(1)}`,
      conc === 1 ? '' : (tps / single).toFixed(2));
    row(`concurrency ${conc}: TTFT p50 / p99`, `${quantile(ttfts, 0.5).toFixed(0)} / ${quantile(ttfts, 0.99).toFixed(0)} ms`, '', '');
  }
  await s.stop();
}

// 3. Prefix caching: 1k shared tokens + 32 of each request's own, one output token.
{
  const prefix = randomPrompt(1024, 4242);
  const ttftWith = async (flags) => {
    const s = await start(['--model', model, ...flags]);
    await stream(s.url, { prompt: [...prefix, 5], max_tokens: 1 });  // fills the cache (if on)
    const t = [];
    for (let i = 0; i < 8; i++) {
      t.push((await stream(s.url, { prompt: [...prefix, ...randomPrompt(32, i)], max_tokens: 1 })).ttft);
    }
    await s.stop();
    return quantile(t, 0.5);
  };
  const on = await ttftWith([]);
  const off = await ttftWith(['--no-enable-prefix-caching']);
  row('shared 1k prefix: TTFT p50, prefix caching on', `${on.toFixed(0)} ms`, `off: ${off.toFixed(0)} ms`, (off / on).toFixed(2));
}

console.log('| figure | sieve | reference | ratio |\n| --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.figure} | ${r.value} | ${r.reference} | ${r.ratio} |`);
