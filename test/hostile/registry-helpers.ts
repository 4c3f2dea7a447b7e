import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import dns from 'node:dns';
import net, { type AddressInfo, type LookupFunction } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import { DoconvError } from '../../src/errors.js';
import { CLI, ROOT } from '../helpers/paths.js';

/** The registry entry every hostile manifest here is built from (the bundled example network). */
export const ENTRY = 'doconv_resnet20_cifar_example';

/** Deterministic bytes (a stand-in artifact: `pull --to source` never parses what it fetches). */
export function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let a = seed >>> 0;
  for (let i = 0; i < length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a >>> 24;
  }
  return out;
}

export const sha256Of = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

export type Route = (req: IncomingMessage, res: ServerResponse, server: LoopbackServer) => void;

/** A registry server on 127.0.0.1 only, with one handler per first path segment; every test closes it. */
export class LoopbackServer {
  private server: Server | undefined;
  base = '';
  /** Requests per route, and every request path in order. */
  readonly hits = new Map<string, number>();
  readonly paths: string[] = [];
  connections = 0;

  constructor(private readonly routes: Record<string, Route>) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', () => this.connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.server = server;
    this.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const route = (req.url ?? '').split('/')[1] ?? '';
    this.hits.set(route, (this.hits.get(route) ?? 0) + 1);
    this.paths.push(req.url ?? '');
    const handler = this.routes[route];
    if (handler === undefined) res.writeHead(404).end();
    else handler(req, res, this);
  }
}

/** Serves `body`, honouring `Range: bytes=N-` as a real static server does. */
export function serveBytes(req: IncomingMessage, res: ServerResponse, body: Uint8Array): void {
  const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  if (start >= body.length && m) {
    res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
    return;
  }
  const part = body.subarray(start);
  res.writeHead(m ? 206 : 200, { 'content-length': part.length, ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
  res.end(part);
}

/** Writes `chunk` every `everyMs` until `totalBytes` went out (or the client left). */
export function trickle(res: ServerResponse, chunk: Uint8Array, everyMs: number, totalBytes: number): void {
  let sent = 0;
  const tick = setInterval(() => {
    if (res.destroyed || sent >= totalBytes) {
      clearInterval(tick);
      if (!res.destroyed) res.end();
      return;
    }
    sent += chunk.length;
    res.write(chunk);
  }, everyMs);
  res.on('close', () => clearInterval(tick));
}

export interface ArtifactSpec {
  urls: string[];
  sha256: string;
  size: number;
  filename?: string;
  archive?: boolean;
  unpackedSize?: number;
  format?: string;
}

/** A manifest (as an object) of the bundled example entry with the given artifacts. */
export function manifestWith(...artifacts: ArtifactSpec[]): Record<string, unknown> {
  const bundled = JSON.parse(readFileSync(join(ROOT, 'registry', 'manifest.json'), 'utf8')) as { entries: { name: string }[] };
  const entry = { ...bundled.entries.find((e) => e.name === ENTRY)!, artifacts: artifacts.map((a) => ({ format: 'pytorch', ...a })) };
  return { schemaVersion: 1, name: 'hostile', entries: [entry] };
}

/** Writes a registry folder's manifest.json. */
export function writeRegistry(dir: string, manifest: unknown): string {
  writeFileSync(join(dir, 'manifest.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  return dir;
}

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI without blocking this process's event loop (the loopback server lives here),
 * killed after `timeoutMs` as a hang guard.
 */
export function runCliAsync(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status, signal) => {
      clearTimeout(guard);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** What the README promises for bad input: exit 1 and exactly one line, `doconv-zoo: error: ...`. */
export function expectOneLineError(r: ChildResult, pattern?: RegExp): void {
  expect(r.signal, `killed by ${r.signal ?? ''} (a hang?)\n${r.stderr}`).toBeNull();
  expect(r.status, r.stderr).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^doconv-zoo: error: /);
  if (pattern) expect(lines[0]).toMatch(pattern);
}

/** Awaits `promise` expecting a DoconvError with `code` (and a message matching `pattern`), within `withinMs`. */
export async function expectRejects(promise: Promise<unknown>, code: string, pattern?: RegExp, withinMs = 20_000): Promise<DoconvError> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${withinMs} ms (a hang)`)), withinMs);
  });
  try {
    await Promise.race([promise, hang]);
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(DoconvError);
    const e = err as DoconvError;
    expect(e.code, e.message).toBe(code);
    if (pattern) expect(e.message).toMatch(pattern);
    expect(e.message).not.toContain('\n');
    return e;
  } finally {
    clearTimeout(timer);
  }
  throw new Error('expected a DoconvError, but the call succeeded');
}

type Lookup = (hostname: string, options: object, callback: (err: Error | null, address?: string | { address: string }[], family?: number) => void) => void;

const isLoopback = (address: string): boolean => /^(127\.|::ffff:127\.)/.test(address) || address === '::1';

/**
 * A safety net for the address tests: while installed, any socket this process tries to open to an
 * address other than loopback (a literal one, or what a host name resolves to) is recorded and
 * refused before it connects, so a broken guard fails a test instead of sending traffic to a
 * metadata service. It wraps the lookup the socket was given, so the guard under test still runs first.
 */
export function refuseNonLoopbackSockets(): { attempts: string[]; restore: () => void } {
  const attempts: string[] = [];
  const original = net.Socket.prototype.connect;
  const patched = function (this: net.Socket, ...args: unknown[]): net.Socket {
    const first = args[0];
    const options = (Array.isArray(first) ? first[0] : first) as { host?: string; path?: string; lookup?: Lookup } | undefined;
    if (typeof options === 'object' && options !== null && options.path === undefined) {
      const host = options.host ?? 'localhost';
      if (net.isIP(host) !== 0) {
        if (!isLoopback(host)) {
          attempts.push(host);
          this.destroy(new Error(`test safety net: refused a socket to ${host}`));
          return this;
        }
      } else {
        const inner: Lookup = options.lookup ?? (dns.lookup as unknown as Lookup);
        options.lookup = (hostname, lookupOptions, callback) =>
          inner(hostname, lookupOptions, (err, address, family) => {
            if (err) return callback(err, address, family);
            const list = Array.isArray(address) ? address.map((a) => a.address) : [address ?? ''];
            const outside = list.find((a) => !isLoopback(a));
            if (outside === undefined) return callback(null, address, family);
            attempts.push(`${hostname} -> ${outside}`);
            return callback(new Error(`test safety net: refused ${hostname} at ${outside}`));
          });
      }
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  };
  net.Socket.prototype.connect = patched as typeof original;
  return { attempts, restore: () => void (net.Socket.prototype.connect = original) };
}

/** A resolver that answers every host name with one address (what a hostile DNS server could do). */
export function fixedLookup(address: string, family: number): LookupFunction {
  return ((_host: string, options: { all?: boolean }, cb: (err: Error | null, a: unknown, f?: number) => void) =>
    options.all ? cb(null, [{ address, family }]) : cb(null, address, family)) as unknown as LookupFunction;
}
