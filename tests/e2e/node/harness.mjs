// Starts the real `sieve serve` binary on a free port and stops it; reads fixtures.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const SIEVE = process.env.SIEVE_BINARY;
export const FIXTURES = process.env.SIEVE_FIXTURES || process.env.SIEVE_FIXTURES_DEFAULT;
if (!SIEVE || !fs.existsSync(SIEVE)) {
  throw new Error(`SIEVE_BINARY must name the built sieve binary (got ${SIEVE})`);
}
if (!FIXTURES || !fs.existsSync(FIXTURES)) {
  throw new Error(`FIXTURE MISSING: SIEVE_FIXTURES must name the fixtures folder (got ${FIXTURES})`);
}

export function fixture(rel) {
  const p = path.join(FIXTURES, rel);
  if (!fs.existsSync(p)) throw new Error(`FIXTURE MISSING: ${p}`);
  return p;
}

// Resolves once the server logs the port it listens on. ranks > 1: under
// `mpirun -np ranks` (SIEVE_MPIEXEC) with --expert-parallel-size ranks.
export async function startServer(args = [], { timeoutMs = 120000, ranks = 1 } = {}) {
  const serve = [SIEVE, 'serve', '--host', '127.0.0.1', '--port', '0', ...args];
  let command = serve[0];
  let argv = serve.slice(1);
  if (ranks > 1) {
    const mpiexec = process.env.SIEVE_MPIEXEC;
    if (!mpiexec) throw new Error('SIEVE_MPIEXEC must name mpiexec for a multi-rank server');
    command = mpiexec;
    argv = ['--allow-run-as-root', '--oversubscribe', '-np', String(ranks), ...serve,
      '--expert-parallel-size', String(ranks)];
  }
  return startProcess(command, argv, { timeoutMs });
}

// Any server binary that logs "on http://HOST:PORT" once it listens (the scripted test server).
export async function startProcess(command, argv, { timeoutMs = 120000 } = {}) {
  const proc = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), timeoutMs);
    proc.stderr.on('data', (d) => {
      log += d.toString();
      const m = log.match(/on http:\/\/[\d.]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${log}`));
    });
  });
  proc.stderr.on('data', (d) => { log += d.toString(); });
  const grpc = log.match(/gRPC .* on [\d.]+:(\d+)/);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    port,
    grpcPort: grpc ? Number(grpc[1]) : undefined,
    proc,
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    exited,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

// Raw HTTP: status, headers and body text (for error cases the client library would hide).
export async function raw(url, { method = 'POST', body, headers = {} } = {}) {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || body === undefined ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export async function metric(url, name, labels = '') {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const [key, value] = line.split(' ');
    if (key.startsWith(name) && key.includes(labels) &&
        (key === name || key.startsWith(name + '{'))) return Number(value);
  }
  return undefined;
}

// A tensor from a safetensors file, as a Float32Array and its shape.
export function readSafetensor(file, name) {
  const buf = fs.readFileSync(file);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  const t = header[name];
  if (!t) throw new Error(`${name} not in ${file}`);
  if (t.dtype !== 'F32') throw new Error(`${name} is ${t.dtype}, want F32`);
  const [begin, end] = t.data_offsets;
  const bytes = buf.subarray(8 + headerLen + begin, 8 + headerLen + end);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return { data, shape: t.shape };
}

export function logSoftmax(row) {
  let mx = -Infinity;
  for (const v of row) mx = Math.max(mx, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  return Array.from(row, (v) => v - lse);
}
