// The live dashboard of `sieve serve` in a real browser (Debian's headless Chromium, driven by
// playwright-core): the page loads from the server with no external assets, polls its data,
// and after a few requests draws non-empty heatmap cells; a screenshot is kept.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { chromium } from 'playwright-core';
import { startServer, raw } from './harness.mjs';

const CHROMIUM = process.env.SIEVE_CHROMIUM || '/usr/bin/chromium';

describe('GET /dashboard', () => {
  let server;
  let browser;
  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (tools/setup.sh installs it)`);
    server = await startServer(['--served-model-name', 'tiny']);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('serves one self-contained page and its data', async () => {
    const page = await raw(`${server.url}/dashboard`, { method: 'GET' });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
    // No external assets: nothing is fetched from another origin.
    assert.doesNotMatch(page.text, /(src|href)="(https?:)?\/\//);
    const data = await raw(`${server.url}/dashboard/data`, { method: 'GET' });
    assert.equal(data.status, 200);
    assert.equal(data.json.model, 'tiny');
    assert.ok(data.json.moe_layers.length > 0);
    assert.ok(data.json.num_experts > 0);
    const post = await raw(`${server.url}/dashboard`, { method: 'POST', body: {} });
    assert.equal(post.status, 405);
  });

  test('draws the expert load after a few requests, in a real browser', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const external = [];
    page.on('request', (r) => { if (!r.url().startsWith(server.url)) external.push(r.url()); });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/dashboard`);
    await page.waitForFunction(() => Number(document.body.dataset.updates || 0) >= 1);
    const c = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
    await Promise.all([0, 1, 2, 3].map((i) => c.completions.create({
      model: 'tiny', prompt: `Request number ${i} for the dashboard`, max_tokens: 8 })));
    await page.waitForFunction(() => Number(document.body.dataset.cells || 0) > 0,
      null, { timeout: 15000 });
    const seen = Number(await page.evaluate(() => document.body.dataset.updates));
    // A few more polls, so the sparklines have points in the screenshot.
    await page.waitForFunction((n) => Number(document.body.dataset.updates) >= n + 3, seen + 0,
      { timeout: 15000 });
    const cells = Number(await page.evaluate(() => document.body.dataset.cells));
    assert.ok(cells > 0);
    // The heatmap canvas has as many rows and columns as the model has MoE layers and experts.
    const data = (await raw(`${server.url}/dashboard/data`, { method: 'GET' })).json;
    const size = await page.evaluate(() => {
      const h = document.getElementById('heat');
      return { w: h.width, h: h.height };
    });
    assert.equal(size.w % data.num_experts, 0);
    assert.equal(size.h % data.moe_layers.length, 0);
    assert.ok(data.series.tokens_per_s.some((v) => v > 0), JSON.stringify(data.series));
    const dir = process.env.SIEVE_TEST_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'sieve-dashboard-'));
    fs.mkdirSync(dir, { recursive: true });
    const shot = path.join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10000, `screenshot ${shot}`);
    console.log(`# dashboard screenshot: ${shot}`);
    assert.deepEqual(external, []);
    assert.deepEqual(errors, []);
    assert.equal(data.placement, null);  // no --expert-placement
    await page.close();
  });
});

describe('GET /dashboard with --expert-placement sieve', () => {
  let server;
  let browser;
  before(async () => {
    // The default model's experts are 48 KiB each: 0.0004 GB holds 8 of its 32.
    server = await startServer(['--served-model-name', 'tiny', '--expert-placement', 'sieve',
      '--device-expert-memory', '0.0004']);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu',
      '--no-first-run', '--disable-background-networking', '--disable-component-update'] });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('draws which tier each expert ran on and which are resident', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/dashboard`);
    const c = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
    await Promise.all([0, 1, 2, 3].map((i) => c.completions.create({
      model: 'tiny', prompt: `Placement request ${i}`, max_tokens: 8 })));
    await page.waitForFunction(() => Number(document.body.dataset.tiered || 0) > 0,
      null, { timeout: 15000 });
    const data = (await raw(`${server.url}/dashboard/data`, { method: 'GET' })).json;
    assert.equal(data.placement.policy, 'sieve');
    assert.equal(data.placement.tier.length, data.moe_layers.length);
    const resident = data.placement.resident.flat().filter((r) => r).length;
    assert.ok(resident <= data.placement.device_slots, `${resident} resident`);
    const dir = process.env.SIEVE_TEST_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'sieve-dashboard-'));
    fs.mkdirSync(dir, { recursive: true });
    const shot = path.join(dir, 'dashboard-placement.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`# dashboard screenshot: ${shot}`);
    await page.close();
  });
});
