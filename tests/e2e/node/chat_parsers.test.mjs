// Qwen3 and DeepSeek-V3 chat output (<think> reasoning, Hermes and DeepSeek-V3 tool calls)
// through the real OpenAI front end and the official `openai` client: a scripted serving loop
// (tests/e2e/scripted_server.cpp) "generates" exact token sequences with the real Qwen3 and
// DeepSeek-V3 tokenizers, the parsers are chosen as `sieve serve` chooses them (detected, or by
// --reasoning-parser), and the client must get reasoning_content, content and tool_calls —
// streamed and not — with malformed calls back as content.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import OpenAI from 'openai';
import { startProcess, fixture } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { Sieve } = grpc.loadPackageDefinition(protoLoader.loadSync(
  path.join(here, '../../../proto/sieve.proto'),
  { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true })).sieve.v1;

const SCRIPTED = process.env.SIEVE_SCRIPTED_SERVER;
if (!SCRIPTED || !fs.existsSync(SCRIPTED)) {
  throw new Error(`SIEVE_SCRIPTED_SERVER must name the built sieve_scripted_server (got ${SCRIPTED})`);
}

const WEATHER = '{"city": "Paris", "unit": "celsius"}';
const QWEN3 = {
  answer: '<think>\nThe user asks 2+2.\nSimple.\n</think>\n\n2+2 = 4. 答え 😀<|im_end|>',
  weather: '<think>\nNeed the weather.\n</think>\n\n<tool_call>\n{"name": "get_weather", ' +
    `"arguments": ${WEATHER}}\n</tool_call><|im_end|>`,
  two_calls: 'Checking both.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}' +
    '\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n' +
    '</tool_call><|im_end|>',
  bad_call: 'Trying.\n<tool_call>\n{"name": "get_weather", "arguments": {city: Paris}}\n</tool_call><|im_end|>',
  long_call: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n</tool_call>',
  plain: 'Four.<|im_end|>',
};
const DS_CALL = (name, args) => '<｜tool▁call▁begin｜>function<｜tool▁sep｜>' + name +
  '\n```json\n' + args + '\n```<｜tool▁call▁end｜>';
const DEEPSEEK = {
  two_calls: 'Checking both.\n<｜tool▁calls▁begin｜>' + DS_CALL('get_weather', '{"city": "Paris"}') +
    '\n' + DS_CALL('get_time', '{"tz": "CET"}') + '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>',
  answer: 'Paris is 18C.<｜end▁of▁sentence｜>',
  bad_call: '<｜tool▁calls▁begin｜>' + DS_CALL('get_weather', '{city}') +
    '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>',
  r1: '<think>\nHmm, the weather.\n</think>\n\n<｜tool▁calls▁begin｜>' +
    DS_CALL('get_weather', '{"city": "Paris"}') + '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>',
};

const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string' } },
      required: ['city'],
    },
  },
}];

const ask = (script, extra = {}) => ({
  model: 'scripted', messages: [{ role: 'user', content: `script:${script}` }], ...extra,
});

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const joined = { reasoning: '', content: '', finish: null, toolFragments: [] };
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      joined.reasoning += choice.delta.reasoning_content ?? '';
      joined.content += choice.delta.content ?? '';
      joined.toolFragments.push(...(choice.delta.tool_calls ?? []));
      if (choice.finish_reason) {
        assert.equal(joined.finish, null, 'one finish_reason per choice');
        joined.finish = choice.finish_reason;
      }
    }
  }
  return { chunks, ...joined };
}

// The ChatCompletionStream helper (chat.completions.stream in openai v5, beta.* in v4).
async function assembled(client, body) {
  const completions = client.chat.completions.stream ? client.chat.completions
    : client.beta.chat.completions;
  const stream = completions.stream(body);
  const chunks = [];
  stream.on('chunk', (c) => chunks.push(c));
  return { done: await stream.finalChatCompletion(), chunks };
}

async function scripted(tokenizer, scripts, flags = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sieve-parsers-'));
  const file = path.join(dir, 'scripts.json');
  fs.writeFileSync(file, JSON.stringify(scripts));
  const server = await startProcess(SCRIPTED, ['--tokenizer', fixture(`tokenizers/${tokenizer}`),
    '--scripts', file, '--port', '0', '--grpc-port', '0', ...flags]);
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
  return {
    server, client,
    stop: async () => { await server.stop(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

describe('Qwen3 (detected: qwen3 reasoning, hermes tool calls)', () => {
  let s;
  before(async () => { s = await scripted('qwen3', QWEN3); });
  after(async () => { await s.stop(); });

  test('the start-up log names the parsers', () => {
    assert.match(s.server.log(), /reasoning parser qwen3, tool-call parser hermes/);
  });

  test('<think> reasoning and the answer', async () => {
    const res = await s.client.chat.completions.create(ask('answer'));
    const m = res.choices[0].message;
    assert.equal(m.reasoning_content, 'The user asks 2+2.\nSimple.');
    assert.equal(m.content, '2+2 = 4. 答え 😀');
    assert.equal(m.tool_calls, undefined);
    assert.equal(res.choices[0].finish_reason, 'stop');

    const st = await collect(await s.client.chat.completions.create(ask('answer', { stream: true })));
    assert.equal(st.reasoning, 'The user asks 2+2.\nSimple.');
    assert.equal(st.content, '2+2 = 4. 答え 😀');
    assert.equal(st.finish, 'stop');
    assert.equal(st.chunks[0].choices[0].delta.role, 'assistant');
    const pieces = st.chunks.filter((c) => c.choices[0]?.delta.reasoning_content).length;
    assert.ok(pieces > 3, `reasoning came in ${pieces} pieces`);
    for (const c of st.chunks) {
      const d = c.choices[0]?.delta ?? {};
      assert.ok(!(d.content ?? '').includes('think>') && !(d.reasoning_content ?? '').includes('think>'));
    }
  });

  test('a tool call: tool_calls, null content, finish_reason tool_calls', async () => {
    const res = await s.client.chat.completions.create(ask('weather', { tools: TOOLS }));
    const choice = res.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.reasoning_content, 'Need the weather.');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.equal(call.function.arguments, WEATHER);
  });

  test('streamed calls assemble in the client, fragments keyed by index', async () => {
    const { done, chunks } = await assembled(s.client, ask('two_calls', { tools: TOOLS }));
    const choice = done.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, 'Checking both.');
    assert.deepEqual(choice.message.tool_calls.map((c) => [c.function.name, c.function.arguments]),
      [['get_weather', '{"city": "Paris"}'], ['get_weather', '{"city": "Rome"}']]);
    const fragments = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    for (const index of [0, 1]) {
      const mine = fragments.filter((f) => f.index === index);
      assert.ok(mine.length >= 2);
      assert.equal(mine[0].type, 'function');
      assert.match(mine[0].id, /^call_/);
      assert.equal(mine[0].function.arguments, '');
      assert.equal(mine[0].id, choice.message.tool_calls[index].id);
      for (const f of mine.slice(1)) assert.equal(f.id, undefined);
    }
    const one = await assembled(s.client, ask('weather', { tools: TOOLS }));
    // The helper keeps only the last piece of a field it does not know; the pieces add up.
    assert.equal(one.chunks.map((c) => c.choices[0]?.delta.reasoning_content ?? '').join(''),
      'Need the weather.');
    assert.deepEqual(JSON.parse(one.done.choices[0].message.tool_calls[0].function.arguments),
      { city: 'Paris', unit: 'celsius' });
  });

  test('a malformed call comes back as content with its raw text', async () => {
    const raw = 'Trying.<tool_call>\n{"name": "get_weather", "arguments": {city: Paris}}\n</tool_call>';
    const res = await s.client.chat.completions.create(ask('bad_call', { tools: TOOLS }));
    assert.equal(res.choices[0].message.content, raw);
    assert.equal(res.choices[0].message.tool_calls, undefined);
    assert.equal(res.choices[0].finish_reason, 'stop');
    const st = await collect(await s.client.chat.completions.create(
      ask('bad_call', { tools: TOOLS, stream: true })));
    assert.equal(st.content, raw);
    assert.equal(st.toolFragments.length, 0);
  });

  test('a call cut off by max_tokens is content, finish_reason length', async () => {
    const res = await s.client.chat.completions.create(ask('long_call', { tools: TOOLS, max_tokens: 8 }));
    assert.equal(res.choices[0].finish_reason, 'length');
    assert.equal(res.choices[0].message.tool_calls, undefined);
    assert.ok(res.choices[0].message.content.startsWith('<tool_call>\n{"name"'),
      res.choices[0].message.content);
    const st = await collect(await s.client.chat.completions.create(
      ask('long_call', { tools: TOOLS, max_tokens: 8, stream: true })));
    assert.equal(st.content, res.choices[0].message.content);
    assert.equal(st.finish, 'length');
  });

  test('enable_thinking false: the template closes the block, the output is content', async () => {
    const body = ask('plain', { chat_template_kwargs: { enable_thinking: false } });
    const res = await s.client.chat.completions.create(body);
    assert.equal(res.choices[0].message.content, 'Four.');
    assert.equal(res.choices[0].message.reasoning_content, null);
    const st = await collect(await s.client.chat.completions.create({ ...body, stream: true }));
    assert.equal(st.content, 'Four.');
    assert.equal(st.reasoning, '');
    const echo = await s.client.chat.completions.create(
      ask('echo', { chat_template_kwargs: { enable_thinking: false } }));
    assert.ok(echo.choices[0].message.content.replaceAll('<!', '<')
      .endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'));
  });

  test('the OpenAI history (tool_calls, tool results) renders through the template', async () => {
    const history = [
      { role: 'user', content: "What's the weather in Paris?" },
      {
        role: 'assistant', content: null,
        tool_calls: [{ id: 'call_1', type: 'function',
          function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 18}' },
      { role: 'user', content: 'script:echo' },
    ];
    const res = await s.client.chat.completions.create({ model: 'scripted', messages: history, tools: TOOLS });
    const prompt = res.choices[0].message.content.replaceAll('<!', '<');
    assert.ok(prompt.includes('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", ' +
      '"arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n' +
      '{"temperature": 18}\n</tool_response><|im_end|>\n'), prompt);
  });

  test('/v1/completions returns the raw text, unparsed', async () => {
    const res = await s.client.completions.create({ model: 'scripted', prompt: 'script:answer', max_tokens: 100 });
    assert.equal(res.choices[0].text, QWEN3.answer.replace('<|im_end|>', ''));
  });

  test('gRPC Generate with chat input: the same fields', async () => {
    const c = new Sieve(`127.0.0.1:${s.server.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const msgs = await new Promise((resolve, reject) => {
        const out = [];
        const call = c.Generate({
          chat: { messages: [{ role: 'user', content: 'script:weather' }], tools_json: JSON.stringify(TOOLS) },
          sampling: { max_tokens: 200 },
        });
        call.on('data', (m) => out.push(m));
        call.on('error', reject);
        call.on('end', () => resolve(out));
      });
      const done = msgs.at(-1).complete;
      assert.equal(done.finish_reason, 'tool_calls');
      assert.equal(done.reasoning_content, 'Need the weather.');
      assert.equal(done.content, '');
      assert.equal(done.tool_calls.length, 1);
      assert.equal(done.tool_calls[0].name, 'get_weather');
      assert.equal(done.tool_calls[0].arguments, WEATHER);
      const streamed = msgs.filter((m) => m.chunk).flatMap((m) => m.chunk.tool_calls);
      assert.deepEqual(streamed, done.tool_calls);
    } finally {
      c.close();
    }
  });
});

describe('DeepSeek-V3 (detected: deepseek_v3 tool calls)', () => {
  let s;
  before(async () => { s = await scripted('deepseek-v3', DEEPSEEK); });
  after(async () => { await s.stop(); });

  test('the start-up log names the parsers', () => {
    assert.match(s.server.log(), /reasoning parser none, tool-call parser deepseek_v3/);
  });

  test('two calls, streamed and not', async () => {
    const res = await s.client.chat.completions.create(ask('two_calls', { tools: TOOLS }));
    const m = res.choices[0].message;
    assert.equal(res.choices[0].finish_reason, 'tool_calls');
    assert.equal(m.content, 'Checking both.');
    assert.deepEqual(m.tool_calls.map((c) => [c.function.name, c.function.arguments]),
      [['get_weather', '{"city": "Paris"}'], ['get_time', '{"tz": "CET"}']]);
    const { done } = await assembled(s.client, ask('two_calls', { tools: TOOLS }));
    assert.deepEqual(done.choices[0].message.tool_calls.map((c) => [c.function.name, c.function.arguments]),
      [['get_weather', '{"city": "Paris"}'], ['get_time', '{"tz": "CET"}']]);
    assert.equal(done.choices[0].finish_reason, 'tool_calls');
  });

  test('a plain answer and a malformed call', async () => {
    const res = await s.client.chat.completions.create(ask('answer'));
    assert.equal(res.choices[0].message.content, 'Paris is 18C.');
    const bad = await s.client.chat.completions.create(ask('bad_call', { tools: TOOLS }));
    assert.equal(bad.choices[0].message.content, DEEPSEEK.bad_call.replace('<｜end▁of▁sentence｜>', ''));
    assert.equal(bad.choices[0].message.tool_calls, undefined);
  });

  test('the OpenAI history renders the calls through the template', async () => {
    const history = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function',
        function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'assistant', content: 'It is 18C.' },
      { role: 'user', content: 'script:echo' },
    ];
    const res = await s.client.chat.completions.create({ model: 'scripted', messages: history });
    const prompt = res.choices[0].message.content.replaceAll('<!', '<');
    assert.ok(prompt.includes('<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n' +
      '{"city": "Paris"}\n```<｜tool▁call▁end｜>'), prompt);
    assert.ok(prompt.includes('<｜tool▁output▁begin｜>18C<｜tool▁output▁end｜>'), prompt);
  });
});

describe('DeepSeek with --reasoning-parser deepseek_r1', () => {
  let s;
  before(async () => { s = await scripted('deepseek-v3', DEEPSEEK, ['--reasoning-parser', 'deepseek_r1']); });
  after(async () => { await s.stop(); });

  test('reasoning, then a call', async () => {
    assert.match(s.server.log(), /reasoning parser deepseek_r1, tool-call parser deepseek_v3/);
    const res = await s.client.chat.completions.create(ask('r1', { tools: TOOLS }));
    const m = res.choices[0].message;
    assert.equal(m.reasoning_content, 'Hmm, the weather.');
    assert.equal(m.content, null);
    assert.equal(m.tool_calls[0].function.arguments, '{"city": "Paris"}');
    const st = await collect(await s.client.chat.completions.create(ask('r1', { tools: TOOLS, stream: true })));
    assert.equal(st.reasoning, 'Hmm, the weather.');
    assert.equal(st.content, '');
    assert.equal(st.finish, 'tool_calls');
    // "<think>" is text in this vocabulary: no piece of it leaks into a delta.
    assert.ok(!st.chunks.some((c) => (c.choices[0]?.delta.reasoning_content ?? '').includes('<')));
  });
});
