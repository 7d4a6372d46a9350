// `sieve serve` across MPI ranks (mpirun -np 2, expert parallelism on the CPU backend): rank 0
// serves, requests go to the least loaded rank, all ranks step in lockstep. 32 concurrent
// requests must give exactly what one rank gives.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, raw } from './harness.mjs';

const client = (server) =>
  new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120000 });

// Mixed requests: greedy and seeded sampling, streamed and not, logprobs, a stop string.
function requestFor(i) {
  const r = {
    model: 'tiny', prompt: `Request number ${i}: tell me about ${'rank '.repeat(i % 5)}things`,
    max_tokens: 6 + (i % 7), ignore_eos: true, return_token_ids: true,
  };
  if (i % 4 === 1) Object.assign(r, { temperature: 0.8, top_p: 0.9, seed: 100 + i });
  else r.temperature = 0;
  if (i % 4 === 2) r.logprobs = 3;
  if (i % 8 === 3) r.stop = [' the'];
  if (i % 2 === 1) r.stream = true;
  return r;
}

async function runAll(server) {
  const c = client(server);
  return Promise.all(Array.from({ length: 32 }, async (_, i) => {
    const req = requestFor(i);
    if (!req.stream) {
      const res = await c.completions.create(req);
      const ch = res.choices[0];
      return { text: ch.text, ids: ch.token_ids, finish: ch.finish_reason, usage: res.usage,
        logprobs: ch.logprobs ?? null };
    }
    const stream = await c.completions.create({ ...req, stream_options: { include_usage: true } });
    let text = '';
    const ids = [];
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const ch = chunk.choices[0];
      if (!ch) continue;
      text += ch.text;
      if (ch.token_ids) ids.push(...ch.token_ids);
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    return { text, ids, finish, usage, logprobs: null };
  }));
}

describe('sieve serve on 2 MPI ranks', () => {
  const common = ['--served-model-name', 'tiny', '--threads', '1', '--max-model-len', '256',
    '--distributed-timeout', '20'];
  let one;
  let two;
  before(async () => {
    one = await startServer(common);
    two = await startServer(common, { ranks: 2 });
  });
  after(async () => {
    if (one) await one.stop();
    if (two) {
      // mpirun exits 1 after forwarding SIGTERM even when every rank exits 0, so the drain
      // is checked in the log: rank 0 told every rank to stop, then stopped itself.
      await two.stop();
      assert.match(two.log(), /all 2 ranks stopped/, two.log());
      assert.match(two.log(), /\] stopped: /, two.log());
      // Least-load placement spread the 32 requests over both ranks.
      const m = two.log().match(/requests run per rank: (\d+), (\d+)/);
      assert.ok(m, two.log());
      assert.ok(Number(m[1]) > 0 && Number(m[2]) > 0, m[0]);
      assert.equal(Number(m[1]) + Number(m[2]), 32, m[0]);
    }
  });

  test('32 concurrent requests give the single-rank outputs', async () => {
    const t0 = Date.now();
    const want = await runAll(one);
    const t1 = Date.now();
    const got = await runAll(two);
    const t2 = Date.now();
    console.log(`1 rank: ${t1 - t0} ms; 2 ranks: ${t2 - t1} ms`);
    for (let i = 0; i < want.length; i++) {
      assert.ok(want[i].ids.length > 0, `request ${i}`);
      assert.deepEqual(got[i], want[i], `request ${i}`);
    }
    assert.ok(two.log().includes('expert parallelism over 2 ranks'), two.log());
  });

  test('health and metrics answer on rank 0', async () => {
    const r = await raw(`${two.url}/health`, { method: 'GET' });
    assert.equal(r.status, 200);
    const text = await (await fetch(`${two.url}/metrics`)).text();
    assert.match(text, /sieve_/);
  });

  // After the requests above: every rank's all-to-all counters, per MoE layer.
  test('metrics carry each rank\'s expert-parallel counters', async () => {
    const text = await (await fetch(`${two.url}/metrics`)).text();
    const series = (name) => [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))]
      .map((m) => ({ labels: m[1], value: Number(m[2]) }));
    const perRank = (name) => {
      const sums = {};
      for (const { labels, value } of series(name)) {
        const rank = labels.match(/rank="(\d+)"/);
        assert.ok(rank && /layer="\d+"/.test(labels), `${name}{${labels}}`);
        sums[rank[1]] = (sums[rank[1]] ?? 0) + value;
      }
      return sums;
    };
    const sent = perRank('sieve_ep_tokens_sent_total');
    const received = perRank('sieve_ep_tokens_received_total');
    assert.deepEqual(Object.keys(sent).sort(), ['0', '1'], text);
    assert.deepEqual(Object.keys(received).sort(), ['0', '1'], text);
    for (const rank of ['0', '1']) {
      assert.ok(sent[rank] > 0, `rank ${rank} sent ${sent[rank]}`);
      assert.ok(received[rank] > 0, `rank ${rank} received ${received[rank]}`);
    }
    // Every row sent is received by some rank.
    assert.equal(sent['0'] + sent['1'], received['0'] + received['1']);
    const computed = perRank('sieve_ep_expert_tokens_total');
    assert.equal(computed['0'] + computed['1'], received['0'] + received['1']);
    for (const name of ['sieve_ep_all_to_all_bytes_total', 'sieve_ep_all_to_all_seconds_total',
      'sieve_ep_expert_load_imbalance']) {
      assert.deepEqual(Object.keys(perRank(name)).sort(), ['0', '1'], name);
    }
    assert.match(text, /^sieve_ep_all_to_all_bytes_total\{[^}]*direction="received"\} [1-9]/m);
    // The router's per-expert counts stay global.
    const global = series('sieve_expert_tokens_total');
    assert.ok(global.length > 0, text);
    for (const { labels } of global) assert.doesNotMatch(labels, /rank=/);
  });
});
