// `sieve serve` over HTTP with the official `openai` client: goldens through the API,
// chat and streaming on the default model, n, stop strings, seeds, logprobs, usage,
// concurrency, aborts, bad input, graceful shutdown.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { SIEVE, startServer, fixture, raw, metric, readSafetensor, logSoftmax } from './harness.mjs';

const client = (server, apiKey = 'none') =>
  new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 120000 });

for (const family of ['qwen3_moe', 'mixtral']) {
  describe(`token-id completions on the ${family} fixture`, () => {
    let server;
    before(async () => {
      server = await startServer(['--model', fixture(`models/${family}`), '--dtype', 'fp32',
        '--served-model-name', family]);
    });
    after(async () => { await server.stop(); });

    test('greedy tokens and top logprobs equal the transformers goldens', async () => {
      const dir = fixture(`models/${family}`);
      const golden = JSON.parse(fs.readFileSync(`${dir}/golden.json`, 'utf8'));
      const c = client(server);
      for (let i = 0; i < golden.prompts.length; i++) {
        const res = await c.completions.create({
          model: family, prompt: golden.prompts[i], max_tokens: 16, temperature: 0,
          ignore_eos: true, logprobs: 5, return_token_ids: true,
        });
        const choice = res.choices[0];
        assert.deepEqual(choice.token_ids, golden.greedy[i].new_tokens, `prompt ${i}`);
        assert.deepEqual(choice.prompt_token_ids, golden.prompts[i]);
        assert.equal(choice.finish_reason, 'length');
        assert.equal(res.usage.prompt_tokens, golden.prompts[i].length);
        assert.equal(res.usage.completion_tokens, 16);
        const steps = readSafetensor(`${dir}/golden.safetensors`, `generate_step_logits.p${i}`);
        const vocab = steps.shape[1];
        for (let s = 0; s < 16; s++) {
          const want = logSoftmax(steps.data.subarray(s * vocab, (s + 1) * vocab));
          const top = choice.logprobs.top_logprobs[s];
          assert.ok(Object.keys(top).length >= 5, `step ${s}`);
          for (const [tok, lp] of Object.entries(top)) {
            const id = Number(tok.replace('token_id:', ''));
            assert.ok(Math.abs(lp - want[id]) < 1e-4, `prompt ${i} step ${s} token ${id}: ${lp} vs ${want[id]}`);
          }
          const chosen = golden.greedy[i].new_tokens[s];
          assert.ok(Math.abs(choice.logprobs.token_logprobs[s] - want[chosen]) < 1e-4);
        }
      }
    });

    test('text prompts are refused clearly without a tokenizer', async () => {
      const r = await raw(`${server.url}/v1/completions`, { body: { prompt: 'hello' } });
      assert.equal(r.status, 400);
      assert.match(r.json.error.message, /token-id prompts only/);
    });
  });
}

describe('the default model (tiny Qwen3-MoE, real Qwen3 tokenizer)', () => {
  let server;
  let c;
  before(async () => {
    server = await startServer(['--max-model-len', '512', '--max-body-mb', '1',
      '--api-key', 'sekrit', '--served-model-name', 'tiny']);
    c = client(server, 'sekrit');
  });
  after(async () => { await server.stop(); });

  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello in 中文 😀' },
  ];

  test('lists its model and reports health', async () => {
    const models = await c.models.list();
    assert.equal(models.data[0].id, 'tiny');
    assert.equal((await raw(`${server.url}/health`, { method: 'GET' })).status, 200);
  });

  test('chat, streamed and not, gives the same greedy text; usage comes in the stream', async () => {
    const full = await c.chat.completions.create({
      model: 'tiny', messages, max_tokens: 12, temperature: 0, return_token_ids: true,
    });
    const msg = full.choices[0].message;
    assert.equal(msg.role, 'assistant');
    assert.equal(typeof msg.content, 'string');
    assert.equal(full.object, 'chat.completion');
    assert.match(full.id, /^chatcmpl-/);
    assert.equal(full.usage.completion_tokens, full.choices[0].token_ids.length);
    // The prompt is the chat template's rendering, tokenized.
    const tok = await raw(`${server.url}/tokenize`, {
      body: { messages }, headers: { authorization: 'Bearer sekrit' },
    });
    assert.equal(tok.status, 200);
    assert.equal(full.usage.prompt_tokens, tok.json.count);
    assert.deepEqual(full.prompt_token_ids, tok.json.tokens);

    const stream = await c.chat.completions.create({
      model: 'tiny', messages, max_tokens: 12, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let role = null;
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const ch of chunk.choices) {
        if (ch.delta.role) role = ch.delta.role;
        text += ch.delta.content ?? '';
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(role, 'assistant');
    assert.equal(text, msg.content);
    assert.equal(finish, full.choices[0].finish_reason);
    assert.deepEqual(usage.completion_tokens, full.usage.completion_tokens);
    assert.deepEqual(usage.prompt_tokens, full.usage.prompt_tokens);
  });

  test('n samples, and the same seed gives the same samples', async () => {
    const req = { model: 'tiny', prompt: 'Once upon a time', max_tokens: 10, n: 2, temperature: 1.0, seed: 1234 };
    const a = await c.completions.create(req);
    const b = await c.completions.create(req);
    assert.equal(a.choices.length, 2);
    assert.deepEqual(a.choices.map((x) => x.index), [0, 1]);
    assert.deepEqual(a.choices.map((x) => x.text), b.choices.map((x) => x.text));
    assert.notEqual(a.choices[0].text, a.choices[1].text);
    assert.equal(a.usage.completion_tokens, 20);
  });

  test('stop strings end the text where they first appear', async () => {
    const base = await c.completions.create({ model: 'tiny', prompt: 'The weather today', max_tokens: 40, temperature: 0, ignore_eos: true });
    const text = base.choices[0].text;
    assert.ok(text.length > 12, text);
    const k = Math.floor(text.length / 2);
    const stop = text.slice(k, k + 3);
    const cut = await c.completions.create({ model: 'tiny', prompt: 'The weather today', max_tokens: 40, temperature: 0, ignore_eos: true, stop: [stop] });
    assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
    assert.equal(cut.choices[0].finish_reason, 'stop');
    // Streamed, the stop string never shows.
    const stream = await c.completions.create({ model: 'tiny', prompt: 'The weather today', max_tokens: 40, temperature: 0, ignore_eos: true, stop: [stop], stream: true });
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? '';
    assert.equal(streamed, cut.choices[0].text);
  });

  test('chat logprobs list the top tokens, greedy picks the first', async () => {
    const res = await c.chat.completions.create({
      model: 'tiny', messages, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3,
    });
    const content = res.choices[0].logprobs.content;
    assert.equal(content.length, res.usage.completion_tokens);
    for (const e of content) {
      assert.equal(e.top_logprobs.length, 3);
      assert.equal(e.top_logprobs[0].token, e.token);
      assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6);
      assert.ok(e.top_logprobs[1].logprob <= e.top_logprobs[0].logprob);
      assert.deepEqual(e.bytes, [...Buffer.from(e.token, 'utf8')]);
    }
  });

  test('64 concurrent streams each equal the same request run alone', async () => {
    const prompts = Array.from({ length: 64 }, (_, i) => `Request number ${i}: tell me`);
    const alone = [];
    for (const p of prompts) {
      const r = await c.completions.create({ model: 'tiny', prompt: p, max_tokens: 8, temperature: 0, ignore_eos: true, return_token_ids: true });
      alone.push(r.choices[0]);
    }
    const together = await Promise.all(prompts.map(async (p) => {
      const stream = await c.completions.create({ model: 'tiny', prompt: p, max_tokens: 8, temperature: 0, ignore_eos: true, return_token_ids: true, stream: true });
      let text = '';
      const ids = [];
      for await (const chunk of stream) {
        const ch = chunk.choices[0];
        if (!ch) continue;
        text += ch.text;
        if (ch.token_ids) ids.push(...ch.token_ids);
      }
      return { text, ids };
    }));
    for (let i = 0; i < prompts.length; i++) {
      assert.deepEqual(together[i].ids, alone[i].token_ids, `request ${i}`);
      assert.equal(together[i].text, alone[i].text, `request ${i}`);
    }
  });

  test('closing a stream aborts the request and frees its pages', async () => {
    const stream = await c.completions.create({ model: 'tiny', prompt: 'Go on forever', max_tokens: 400, temperature: 0, ignore_eos: true, stream: true });
    let chunks = 0;
    for await (const chunk of stream) {
      if (++chunks === 3) { stream.controller.abort(); break; }
    }
    const deadline = Date.now() + 10000;
    let used = -1;
    while (Date.now() < deadline) {
      used = await metric(server.url, 'sieve_kv_blocks', 'state="used"');
      const aborted = await metric(server.url, 'sieve_requests_finished_total', 'finish_reason="abort"');
      if (used === 0 && aborted >= 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(used, 0);
    assert.ok((await metric(server.url, 'sieve_expert_tokens_total', 'layer="0",expert="0"')) >= 0);
  });

  test('sieve run with every request parameter its --help lists gives what /v1/completions gives', async () => {
    const model = process.env.SIEVE_DEFAULT_MODEL;
    assert.ok(model && fs.existsSync(`${model}/config.json`), `SIEVE_DEFAULT_MODEL: ${model}`);
    const help = execFileSync(SIEVE, ['run', '--help'], { encoding: 'utf8' });
    const section = help.slice(help.indexOf('Request parameters of an input line'));
    const listed = [...section.matchAll(/^ {2}([a-z_]+) \(/gm)].map((m) => m[1]);
    // A value for each, none the default; a field --help lists without one here fails.
    const values = {
      max_tokens: 8, temperature: 0.8, top_p: 0.9, top_k: 50, min_p: 0.01,
      presence_penalty: 0.5, frequency_penalty: 0.25, repetition_penalty: 1.1, seed: 42,
      stop: ['zzzz'], stop_token_ids: [0], ignore_eos: true, include_stop_str_in_output: true,
      skip_special_tokens: false, logprobs: 3, prompt_logprobs: 2, priority: 2,
    };
    assert.deepEqual(listed.slice().sort(), Object.keys(values).sort());
    const prompt = 'The quick brown fox';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sieve-run-vs-http-'));
    fs.writeFileSync(`${dir}/in.jsonl`, JSON.stringify({ prompt, ...values }) + '\n');
    execFileSync(SIEVE, ['run', '--model', model, '--max-model-len', '512', '--input',
      `${dir}/in.jsonl`, '--output', `${dir}/out.jsonl`], { stdio: 'pipe' });
    const line = JSON.parse(fs.readFileSync(`${dir}/out.jsonl`, 'utf8'));
    assert.equal(line.error, undefined, JSON.stringify(line));

    const res = await c.completions.create({ model: 'tiny', prompt, ...values, return_token_ids: true });
    const choice = res.choices[0];
    assert.deepEqual(choice.token_ids, line.output_token_ids);
    assert.deepEqual(choice.prompt_token_ids, line.prompt_token_ids);
    assert.equal(choice.text, line.text);
    assert.equal(choice.finish_reason, line.finish_reason);
    // Per generated token: the sampled token's logprob, and with it the 3 most likely others
    // (completions' top_logprobs holds the sampled token too, as vLLM's does).
    assert.equal(choice.logprobs.token_logprobs.length, line.logprobs.length);
    for (let i = 0; i < line.logprobs.length; i++) {
      const [sampled] = line.logprobs[i];
      assert.equal(choice.logprobs.token_logprobs[i], sampled.logprob, `token ${i}`);
      const want = line.logprobs[i].map((t) => t.logprob).sort((x, y) => y - x);
      const got = Object.values(choice.logprobs.top_logprobs[i]).sort((x, y) => y - x);
      assert.deepEqual(got, want, `token ${i}`);
    }
    // Per prompt token after the first: the prompt token, then the 2 most likely others.
    assert.equal(choice.prompt_logprobs.length, line.prompt_logprobs.length);
    assert.equal(choice.prompt_logprobs[0], null);
    for (let i = 1; i < line.prompt_logprobs.length; i++) {
      // (JavaScript orders an object's integer-like keys numerically: compare as sets.)
      const byId = (x, y) => x[0] - y[0];
      const want = line.prompt_logprobs[i].map((t) => [t.token_id, t.logprob]).sort(byId);
      const got = Object.entries(choice.prompt_logprobs[i])
        .map(([id, v]) => [Number(id), v.logprob]).sort(byId);
      assert.deepEqual(got, want, `prompt token ${i}`);
      const own = choice.prompt_logprobs[i][String(line.prompt_token_ids[i])];
      assert.ok(own.rank >= 1 && typeof own.decoded_token === 'string', JSON.stringify(own));
    }
  });

  test('bad input gets the right status and an OpenAI-style error; the server keeps serving', async () => {
    const auth = { authorization: 'Bearer sekrit' };
    const u = server.url;
    const cases = [
      ['malformed JSON', `${u}/v1/completions`, { body: '{"prompt": ', headers: auth }, 400],
      ['body not an object', `${u}/v1/completions`, { body: [1, 2], headers: auth }, 400],
      ['unknown field', `${u}/v1/completions`, { body: { prompt: 'x', frobnicate: 1 }, headers: auth }, 400, 'frobnicate'],
      ['wrong type', `${u}/v1/completions`, { body: { prompt: 'x', max_tokens: 'many' }, headers: auth }, 400, 'max_tokens'],
      ['negative temperature', `${u}/v1/completions`, { body: { prompt: 'x', temperature: -1 }, headers: auth }, 400],
      ['top_p 0', `${u}/v1/completions`, { body: { prompt: 'x', top_p: 0 }, headers: auth }, 400],
      ['n too large', `${u}/v1/completions`, { body: { prompt: 'x', n: 100 }, headers: auth }, 400, 'n'],
      ['empty prompt', `${u}/v1/completions`, { body: { prompt: '' }, headers: auth }, 400, 'prompt'],
      ['mixed prompt list', `${u}/v1/completions`, { body: { prompt: ['a', 3] }, headers: auth }, 400, 'prompt'],
      ['prompt over the context', `${u}/v1/completions`, { body: { prompt: Array(600).fill(11) }, headers: auth }, 413],
      ['max_tokens over the context', `${u}/v1/completions`, { body: { prompt: [1, 2], max_tokens: 600 }, headers: auth }, 400, 'max_tokens'],
      ['token id outside the vocabulary', `${u}/v1/completions`, { body: { prompt: [1, 99999999] }, headers: auth }, 400],
      ['unknown model', `${u}/v1/completions`, { body: { prompt: 'x', model: 'gpt-17' }, headers: auth }, 404, 'model'],
      ['unknown route', `${u}/v1/embeddings`, { body: {}, headers: auth }, 404],
      ['wrong method', `${u}/v1/completions`, { method: 'GET', headers: auth }, 405],
      ['body over the limit', `${u}/v1/completions`, { body: JSON.stringify({ prompt: 'x'.repeat(2 << 20) }), headers: auth }, 413],
      ['no API key', `${u}/v1/completions`, { body: { prompt: 'x' } }, 401],
      ['wrong API key', `${u}/v1/models`, { method: 'GET', headers: { authorization: 'Bearer nope' } }, 401],
      ['message without role', `${u}/v1/chat/completions`, { body: { messages: [{ content: 'hi' }] }, headers: auth }, 400],
      ['no messages', `${u}/v1/chat/completions`, { body: { messages: [] }, headers: auth }, 400],
      ['stop not a string', `${u}/v1/completions`, { body: { prompt: 'x', stop: 5 }, headers: auth }, 400, 'stop'],
      ['logprobs too many', `${u}/v1/completions`, { body: { prompt: 'x', logprobs: 50 }, headers: auth }, 400, 'logprobs'],
      ['stream_options without stream', `${u}/v1/completions`, { body: { prompt: 'x', stream_options: { include_usage: true } }, headers: auth }, 400],
      ['detokenize bad ids', `${u}/detokenize`, { body: { tokens: [-1] }, headers: auth }, 400, 'tokens'],
    ];
    assert.ok(cases.length >= 15);
    for (const [name, url, opts, status, param] of cases) {
      const r = await raw(url, opts).catch((e) => { throw new Error(`${name}: ${e.message} (${e.cause?.message})`); });
      assert.equal(r.status, status, `${name}: ${r.text}`);
      assert.equal(typeof r.json?.error?.message, 'string', `${name}: ${r.text}`);
      if (param) assert.equal(r.json.error.param, param, name);
    }
    const ok = await c.completions.create({ model: 'tiny', prompt: 'still here?', max_tokens: 2 });
    assert.equal(ok.choices.length, 1);
  });
});

describe('a full queue', () => {
  test('requests beyond --max-queued-requests get 429 and the rest are served', async () => {
    const server = await startServer(['--max-queued-requests', '2', '--served-model-name', 'tiny']);
    try {
      const long = { prompt: 'keep going', max_tokens: 300, temperature: 0, ignore_eos: true };
      const running = [raw(`${server.url}/v1/completions`, { body: long }),
        raw(`${server.url}/v1/completions`, { body: long })];
      // Wait until both are in the engine, then one more is refused.
      const deadline = Date.now() + 10000;
      while (Date.now() < deadline &&
             (await metric(server.url, 'sieve_requests_running')) < 2) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const refused = await raw(`${server.url}/v1/completions`, { body: { prompt: 'x', max_tokens: 1 } });
      assert.equal(refused.status, 429, refused.text);
      assert.equal(refused.json.error.type, 'rate_limit_error');
      for (const r of await Promise.all(running)) assert.equal(r.status, 200, r.text);
      const after = await raw(`${server.url}/v1/completions`, { body: { prompt: 'x', max_tokens: 1 } });
      assert.equal(after.status, 200, after.text);
    } finally {
      await server.stop();
    }
  });
});

// GET /health on a kept-alive socket, raw: resolves with the status code.
function healthOn(socket) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d.toString();
      const m = buf.match(/^HTTP\/1\.1 (\d+)[^]*?\r\n\r\n/);
      const len = buf.match(/Content-Length: (\d+)/i);
      if (m && len && buf.length >= m[0].length + Number(len[1])) {
        socket.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

describe('graceful shutdown', () => {
  test('SIGTERM during 8 streams: all complete, exit code 0', async () => {
    const server = await startServer(['--served-model-name', 'tiny']);
    const c = client(server);
    // A connection opened before the signal stays usable and answers 503 after it.
    const kept = net.createConnection({ host: '127.0.0.1', port: server.port });
    await new Promise((r) => kept.once('connect', r));
    assert.equal(await healthOn(kept), 200);
    let during = null;
    let started = 0;
    let signalled = false;
    const runs = Array.from({ length: 8 }, async (_, i) => {
      const stream = await c.completions.create({ model: 'tiny', prompt: `story ${i}`, max_tokens: 48, temperature: 0, ignore_eos: true, stream: true, return_token_ids: true });
      let tokens = 0;
      let finish = null;
      for await (const chunk of stream) {
        const ch = chunk.choices[0];
        if (!ch) continue;
        if (tokens === 0 && ch.token_ids?.length) {
          if (++started === 8 && !signalled) {
            signalled = true;
            server.proc.kill('SIGTERM');
            setTimeout(() => { healthOn(kept).then((s) => { during = s; }); }, 100);
          }
        }
        tokens += ch.token_ids?.length ?? 0;
        if (ch.finish_reason) finish = ch.finish_reason;
      }
      return { tokens, finish };
    });
    const results = await Promise.all(runs);
    for (const r of results) {
      assert.equal(r.finish, 'length');
      assert.equal(r.tokens, 48);
    }
    const { code } = await server.exited;
    assert.equal(code, 0, server.log());
    assert.equal(during, 503, 'a request during the grace period');
    kept.destroy();
  });
});
