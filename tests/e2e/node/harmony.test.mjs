// Harmony (gpt-oss's chat format) through the real OpenAI front end and the official `openai`
// client: a scripted serving loop (tests/e2e/scripted_server.cpp) "generates" exact gpt-oss
// token sequences with the real gpt-oss tokenizer, and the client must get reasoning_content,
// content and tool_calls — streamed and not — and malformed turns back as content.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import OpenAI from 'openai';
import { startProcess, fixture, raw } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { Sieve } = grpc.loadPackageDefinition(protoLoader.loadSync(
  path.join(here, '../../../proto/sieve.proto'),
  { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true })).sieve.v1;

const SCRIPTED = process.env.SIEVE_SCRIPTED_SERVER;
if (!SCRIPTED || !fs.existsSync(SCRIPTED)) {
  throw new Error(`SIEVE_SCRIPTED_SERVER must name the built sieve_scripted_server (got ${SCRIPTED})`);
}

const SCRIPTS = {
  answer: '<|channel|>analysis<|message|>User asks 2+2. Simple.<|end|>' +
    '<|start|>assistant<|channel|>final<|message|>2+2 = 4. 答え 😀<|return|>',
  // Tokens after <|call|> must never be generated: the front end makes <|call|> a stop token.
  weather: '<|channel|>analysis<|message|>Need the weather.<|end|>' +
    '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json' +
    '<|message|>{"city": "Paris", "unit": "celsius"}<|call|>INVENTED TOOL ANSWER',
  preamble: '<|channel|>commentary<|message|>Let me check.<|end|>' +
    '<|start|>assistant to=functions.lookup<|channel|>commentary json<|message|>{"q": "x"}<|call|>',
  bad_arguments: ' to=functions.get_weather<|channel|>commentary json<|message|>{city: Paris}<|call|>',
  unknown_channel: '<|channel|>musings<|message|>hmm<|end|>' +
    '<|start|>assistant<|channel|>final<|message|>ok<|return|>',
  long: '<|channel|>analysis<|message|>one two three four five six seven eight nine ten eleven' +
    '<|end|><|start|>assistant<|channel|>final<|message|>done<|return|>',
};

const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'City name' } },
      required: ['city'],
    },
  },
}];

const ask = (script, extra = {}) => ({
  model: 'scripted', messages: [{ role: 'user', content: `script:${script}` }], ...extra,
});

// Every chunk of a stream, and the pieces of each field joined.
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

describe('harmony chat completions (gpt-oss tokenizer, scripted output)', () => {
  let server, client, dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sieve-harmony-'));
    const scripts = path.join(dir, 'scripts.json');
    fs.writeFileSync(scripts, JSON.stringify(SCRIPTS));
    server = await startProcess(SCRIPTED, ['--tokenizer', fixture('tokenizers/gpt-oss'),
      '--scripts', scripts, '--port', '0', '--grpc-port', '0']);
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
  });
  after(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('reasoning and answer: reasoning_content and content', async () => {
    const res = await client.chat.completions.create(ask('answer'));
    const m = res.choices[0].message;
    assert.equal(m.reasoning_content, 'User asks 2+2. Simple.');
    assert.equal(m.content, '2+2 = 4. 答え 😀');
    assert.equal(m.tool_calls, undefined);
    assert.equal(res.choices[0].finish_reason, 'stop');

    const s = await collect(await client.chat.completions.create(ask('answer', { stream: true })));
    assert.equal(s.reasoning, 'User asks 2+2. Simple.');
    assert.equal(s.content, '2+2 = 4. 答え 😀');
    assert.equal(s.finish, 'stop');
    assert.equal(s.toolFragments.length, 0);
    assert.equal(s.chunks[0].choices[0].delta.role, 'assistant');
    // Reasoning streams as it is written, not in one piece at the end.
    const pieces = s.chunks.filter((c) => c.choices[0]?.delta.reasoning_content).length;
    assert.ok(pieces > 3, `reasoning came in ${pieces} pieces`);
  });

  test('a tool call: tool_calls, null content, finish_reason tool_calls', async () => {
    const res = await client.chat.completions.create(ask('weather', { tools: TOOLS }));
    const choice = res.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.reasoning_content, 'Need the weather.');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.equal(call.function.arguments, '{"city": "Paris", "unit": "celsius"}');
    // Generation stopped at <|call|>: the script's text after it never came.
    assert.ok(!JSON.stringify(res).includes('INVENTED'));
  });

  test('a streamed tool call assembles in the client', async () => {
    // ChatCompletionStream: chat.completions.stream in openai v5, beta.chat... in v4.
    const completions = client.chat.completions.stream ? client.chat.completions
      : client.beta.chat.completions;
    const stream = completions.stream(ask('weather', { tools: TOOLS }));
    const chunks = [];
    stream.on('chunk', (c) => chunks.push(c));
    const done = await stream.finalChatCompletion();
    const choice = done.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
    assert.equal(call.function.name, 'get_weather');
    assert.equal(call.function.arguments, '{"city": "Paris", "unit": "celsius"}');
    assert.deepEqual(call.function.parsed_arguments ?? JSON.parse(call.function.arguments),
      { city: 'Paris', unit: 'celsius' });
    assert.ok(!choice.message.content);

    // The fragments as OpenAI sends them: the first names the call, later ones add arguments.
    const fragments = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    assert.ok(fragments.length >= 2);
    assert.deepEqual(fragments.map((f) => f.index), fragments.map(() => 0));
    assert.equal(fragments[0].type, 'function');
    assert.equal(fragments[0].id, call.id);
    assert.equal(fragments[0].function.name, 'get_weather');
    assert.equal(fragments[0].function.arguments, '');
    for (const f of fragments.slice(1)) {
      assert.equal(f.id, undefined);
      assert.equal(f.function.name, undefined);
    }
    assert.equal(fragments.map((f) => f.function.arguments).join(''), call.function.arguments);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
    const reasoning = chunks.map((c) => c.choices[0]?.delta.reasoning_content ?? '').join('');
    assert.equal(reasoning, 'Need the weather.');
  });

  test('a preamble before a call is content beside tool_calls', async () => {
    const res = await client.chat.completions.create(ask('preamble', { tools: TOOLS }));
    const m = res.choices[0].message;
    assert.equal(m.content, 'Let me check.');
    assert.equal(m.reasoning_content, null);
    assert.deepEqual(m.tool_calls.map((c) => [c.function.name, c.function.arguments]),
      [['lookup', '{"q": "x"}']]);
    const s = await collect(await client.chat.completions.create(
      ask('preamble', { tools: TOOLS, stream: true })));
    assert.equal(s.content, 'Let me check.');
    assert.equal(s.finish, 'tool_calls');
  });

  test('malformed turns come back as content with their raw text', async () => {
    const raw = ' to=functions.get_weather<|channel|>commentary json<|message|>{city: Paris}';
    const res = await client.chat.completions.create(ask('bad_arguments', { tools: TOOLS }));
    assert.equal(res.choices[0].message.content, raw);
    assert.equal(res.choices[0].message.tool_calls, undefined);
    assert.equal(res.choices[0].finish_reason, 'stop');
    const s = await collect(await client.chat.completions.create(
      ask('bad_arguments', { tools: TOOLS, stream: true })));
    assert.equal(s.content, raw);
    assert.equal(s.toolFragments.length, 0);
    assert.equal(s.finish, 'stop');

    const u = await client.chat.completions.create(ask('unknown_channel'));
    assert.equal(u.choices[0].message.content, '<|channel|>musings<|message|>hmmok');
    assert.equal(u.choices[0].message.reasoning_content, null);
  });

  test('cut off by max_tokens: what was written, finish_reason length', async () => {
    const res = await client.chat.completions.create(ask('long', { max_tokens: 6 }));
    const m = res.choices[0].message;
    assert.equal(res.choices[0].finish_reason, 'length');
    assert.ok(m.reasoning_content.length > 0 && 'one two three four'.startsWith(m.reasoning_content.trim()),
      m.reasoning_content);
    assert.equal(m.content, '');
    const s = await collect(await client.chat.completions.create(
      ask('long', { max_tokens: 6, stream: true })));
    assert.equal(s.reasoning, m.reasoning_content);
    assert.equal(s.finish, 'length');
  });

  test('/v1/completions returns the raw text, unparsed', async () => {
    const res = await client.completions.create({
      model: 'scripted', prompt: 'script:answer', max_tokens: 100, skip_special_tokens: false,
    });
    const text = res.choices[0].text;
    assert.equal(text, SCRIPTS.answer);
    assert.equal(res.choices[0].reasoning_content, undefined);
  });

  test('reasoning_effort and the OpenAI history reach the template', async () => {
    // The "echo" script answers with the prompt it was given ("<|" spelled "<!").
    const history = [
      { role: 'user', content: "What's the weather in Paris?" },
      {
        role: 'assistant', content: null, reasoning_content: 'I should call get_weather.',
        tool_calls: [{
          id: 'call_1', type: 'function',
          function: { name: 'get_weather', arguments: '{"city": "Paris"}' },
        }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 18}' },
      { role: 'user', content: 'script:echo' },
    ];
    const res = await client.chat.completions.create({
      model: 'scripted', messages: history, tools: TOOLS, reasoning_effort: 'high',
    });
    const prompt = res.choices[0].message.content.replaceAll('<!', '<|');
    assert.match(prompt, /Reasoning: high\n/);
    assert.ok(prompt.includes('<|start|>assistant<|channel|>analysis<|message|>' +
      'I should call get_weather.<|end|><|start|>assistant to=functions.get_weather' +
      '<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>' +
      '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>' +
      '"{\\"temperature\\": 18}"<|end|>'), prompt);
    assert.ok(prompt.includes('type get_weather = (_: {'), 'tools rendered');
    assert.ok(prompt.endsWith('<|start|>user<|message|>script:echo<|end|><|start|>assistant'));

    const low = await client.chat.completions.create(ask('echo'));
    assert.match(low.choices[0].message.content, /Reasoning: medium\n/);
    const bad = await raw(`${server.url}/v1/chat/completions`,
      { body: { ...ask('echo'), reasoning_effort: 'extreme' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.param, 'reasoning_effort');
  });

  test('gRPC Generate with chat input: the same fields, in chunks and the completion', async () => {
    assert.ok(server.grpcPort > 0, server.log());
    const c = new Sieve(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const run = (script) => new Promise((resolve, reject) => {
        const msgs = [];
        const call = c.Generate({
          chat: { messages: [{ role: 'user', content: `script:${script}` }],
            tools_json: JSON.stringify(TOOLS) },
          sampling: { max_tokens: 200 },
        });
        call.on('data', (m) => msgs.push(m));
        call.on('error', reject);
        call.on('end', () => resolve(msgs));
      });
      const msgs = await run('weather');
      const done = msgs.at(-1).complete;
      assert.equal(done.finish_reason, 'tool_calls');
      assert.equal(done.reasoning_content, 'Need the weather.');
      assert.equal(done.content, '');
      assert.equal(done.tool_calls.length, 1);
      assert.match(done.tool_calls[0].id, /^call_[A-Za-z0-9]{24}$/);
      assert.equal(done.tool_calls[0].name, 'get_weather');
      assert.equal(done.tool_calls[0].arguments, '{"city": "Paris", "unit": "celsius"}');
      const chunks = msgs.filter((m) => m.chunk).map((m) => m.chunk);
      assert.equal(chunks.map((k) => k.reasoning_content).join(''), 'Need the weather.');
      const streamed = chunks.flatMap((k) => k.tool_calls);
      assert.deepEqual(streamed, done.tool_calls);
      assert.ok(!done.text.includes('INVENTED'));

      const answer = (await run('answer')).at(-1).complete;
      assert.equal(answer.finish_reason, 'stop');
      assert.equal(answer.reasoning_content, 'User asks 2+2. Simple.');
      assert.equal(answer.content, '2+2 = 4. 答え 😀');
    } finally {
      c.close();
    }
  });
});
