// `sieve serve --grpc-port` with the official gRPC client (@grpc/grpc-js, @grpc/proto-loader):
// streaming Generate equals the HTTP result, Abort, HealthCheck, GetModelInfo, GetServerInfo,
// Tokenize, and invalid requests answered INVALID_ARGUMENT.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { startServer, raw } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const proto = protoLoader.loadSync(path.join(here, '../../../proto/sieve.proto'), {
  keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
});
const { Sieve } = grpc.loadPackageDefinition(proto).sieve.v1;

const unary = (client, method, req) => new Promise((resolve, reject) => {
  client[method](req, (err, res) => (err ? reject(err) : resolve(res)));
});

// All messages of one Generate call, or the error that ended it.
const generate = (client, req, onMessage) => new Promise((resolve, reject) => {
  const msgs = [];
  const call = client.Generate(req);
  call.on('data', (m) => { msgs.push(m); if (onMessage) onMessage(m, call); });
  call.on('error', (e) => { e.messages = msgs; reject(e); });
  call.on('end', () => resolve(msgs));
});

describe('gRPC on the default model', () => {
  let server;
  let client;
  before(async () => {
    server = await startServer(['--grpc-port', '0', '--served-model-name', 'tiny']);
    assert.ok(server.grpcPort > 0, server.log());
    client = new Sieve(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  });
  after(async () => { client.close(); await server.stop(); });

  test('HealthCheck, GetModelInfo, GetServerInfo', async () => {
    assert.equal((await unary(client, 'HealthCheck', {})).healthy, true);
    const info = await unary(client, 'GetModelInfo', {});
    assert.equal(info.model_name, 'tiny');
    assert.equal(info.model_type, 'qwen3_moe');
    assert.equal(info.has_tokenizer, true);
    assert.equal(info.has_chat_template, true);
    assert.equal(info.vocab_size, 151669);
    assert.ok(info.num_experts > 0);
    const s = await unary(client, 'GetServerInfo', {});
    assert.equal(s.version, '0.1.0');
    assert.ok(s.kv_blocks_total > 0);
  });

  test('streaming Generate equals the HTTP result (text and chat)', async () => {
    const sampling = { temperature: 0, max_tokens: 12, ignore_eos: true };
    const msgs = await generate(client, { request_id: 'g1', text: 'The quick brown fox', sampling });
    const chunks = msgs.filter((m) => m.response === 'chunk');
    const done = msgs[msgs.length - 1];
    assert.equal(done.response, 'complete');
    assert.equal(done.request_id, 'g1');
    assert.equal(chunks.length, 12);
    const ids = chunks.flatMap((m) => m.chunk.token_ids);
    const text = chunks.map((m) => m.chunk.text).join('');
    assert.deepEqual(ids, done.complete.output_token_ids);
    assert.equal(done.complete.finish_reason, 'length');
    assert.equal(done.complete.usage.completion_tokens, 12);
    const http = await raw(`${server.url}/v1/completions`, {
      body: { prompt: 'The quick brown fox', max_tokens: 12, temperature: 0, ignore_eos: true, return_token_ids: true },
    });
    assert.deepEqual(ids, http.json.choices[0].token_ids);
    assert.equal(done.complete.text, http.json.choices[0].text);
    assert.ok(http.json.choices[0].text.startsWith(text));

    const messages = [{ role: 'user', content: 'Hello there 😀' }];
    const chat = await generate(client, { chat: { messages }, sampling });
    const httpChat = await raw(`${server.url}/v1/chat/completions`, {
      body: { messages, max_tokens: 12, temperature: 0, ignore_eos: true, return_token_ids: true },
    });
    const last = chat[chat.length - 1].complete;
    assert.deepEqual(last.output_token_ids, httpChat.json.choices[0].token_ids);
    assert.deepEqual(last.prompt_token_ids, httpChat.json.prompt_token_ids);
    assert.equal(last.text, httpChat.json.choices[0].message.content);
  });

  test('Abort ends a running Generate with finish_reason abort', async () => {
    let aborted = false;
    const msgs = await generate(client,
      { request_id: 'long-one', token_ids: { ids: [1, 2, 3] }, sampling: { temperature: 0, max_tokens: 2000, ignore_eos: true } },
      (m) => {
        if (!aborted && m.response === 'chunk') {
          aborted = true;
          unary(client, 'Abort', { request_id: 'long-one' }).then((r) => assert.equal(r.found, true));
        }
      });
    const done = msgs[msgs.length - 1];
    assert.equal(done.response, 'complete');
    assert.equal(done.complete.finish_reason, 'abort');
    assert.ok(done.complete.output_token_ids.length < 2000);
    assert.equal((await unary(client, 'Abort', { request_id: 'long-one' })).found, false);
  });

  test('Tokenize text and chat agrees with /tokenize', async () => {
    const t = await unary(client, 'Tokenize', { text: 'Hello world' });
    assert.deepEqual(t.token_ids, [9707, 1879]);
    assert.deepEqual(t.tokens, ['Hello', 'Ġworld']);
    const messages = [{ role: 'user', content: 'Hi' }];
    const c = await unary(client, 'Tokenize', { chat: { messages } });
    const h = await raw(`${server.url}/tokenize`, { body: { messages } });
    assert.deepEqual(c.token_ids, h.json.tokens);
  });

  test('invalid requests are INVALID_ARGUMENT and the server keeps serving', async () => {
    const bad = [
      {},                                                             // no input
      { token_ids: { ids: [1, 999999999] } },                         // outside the vocabulary
      { text: 'x', sampling: { temperature: -1 } },                   // bad sampling
      { text: 'x', sampling: { max_tokens: 100000 } },                // over the context
      { chat: { messages: [{ role: '', content: 'x' }], tools_json: 'not json' } },
    ];
    for (const req of bad) {
      await assert.rejects(generate(client, req), (e) => {
        assert.equal(e.code, grpc.status.INVALID_ARGUMENT, `${JSON.stringify(req)}: ${e.details}`);
        return true;
      });
    }
    await assert.rejects(unary(client, 'Tokenize', {}), (e) => e.code === grpc.status.INVALID_ARGUMENT);
    const ok = await generate(client, { text: 'still fine', sampling: { max_tokens: 2 } });
    assert.equal(ok[ok.length - 1].response, 'complete');
  });
});
