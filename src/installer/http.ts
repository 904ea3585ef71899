// HTTP(S) GET for the Debian archive: redirects, an optional HTTP proxy, streaming to disk with
// a running SHA256, and errors that say what went wrong (404 with the URL, truncation, an
// unreachable mirror — the latter a distinct class so the caller can fall back to its cache).
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { EXIT, UserError } from '../../core/errors.js';
import type { Progress } from '../util/progress.js';

/** The mirror (or proxy) could not be reached at all: no HTTP response came back. */
export class UnreachableError extends UserError {
  constructor(readonly url: string, readonly reason: string) {
    super(`cannot reach ${url}: ${reason}`, EXIT.failure, 'check the network, --mirror and --proxy; with a cache from an earlier run, --offline works without network');
    this.name = 'UnreachableError';
  }
}

export interface HttpOptions {
  proxy?: string;
  /** Abort when no byte arrives for this long (ms). */
  idleTimeoutMs?: number;
}

export interface DownloadOptions extends HttpOptions {
  /** The size the index promises; anything else is an error. */
  expectedSize?: number;
  progress?: Progress;
  label?: string;
}

const MAX_REDIRECTS = 5;

function describe(err: NodeJS.ErrnoException): string {
  return err.code ? `${err.code}${err.message && !err.message.includes(err.code) ? ` (${err.message})` : ''}` : err.message;
}

function connectViaProxy(proxy: URL, target: URL, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxy.hostname, port: proxy.port || 80, method: 'CONNECT',
      path: `${target.hostname}:${target.port || 443}`, timeout: timeoutMs,
      headers: proxyAuth(proxy),
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) resolve(socket);
      else { socket.destroy(); reject(new UserError(`proxy ${proxy.host} refused CONNECT to ${target.host}: HTTP ${res.statusCode}`)); }
    });
    req.once('timeout', () => req.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })));
    req.once('error', reject);
    req.end();
  });
}

function proxyAuth(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const cred = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(cred).toString('base64')}` };
}

/** One GET; resolves with the response once headers arrive (status checked by the caller). */
async function request(url: URL, opts: HttpOptions): Promise<IncomingMessage> {
  const timeout = opts.idleTimeoutMs ?? 60_000;
  const headers = { 'user-agent': 'personal-cloud', accept: '*/*' };
  const proxy = opts.proxy ? new URL(opts.proxy) : undefined;
  let socket: Socket | undefined;
  if (proxy && url.protocol === 'https:') socket = await connectViaProxy(proxy, url, timeout);
  return new Promise((resolve, reject) => {
    const req = url.protocol === 'https:'
      ? https.request(url, { headers, timeout, ...(socket ? { createConnection: () => socket as never } : {}) })
      : proxy
        ? http.request({ host: proxy.hostname, port: proxy.port || 80, path: url.href, headers: { ...headers, host: url.host, ...proxyAuth(proxy) }, timeout })
        : http.request(url, { headers, timeout });
    req.once('timeout', () => req.destroy(Object.assign(new Error(`no response within ${timeout / 1000} s`), { code: 'ETIMEDOUT' })));
    req.once('error', reject);
    req.once('response', resolve);
    req.end();
  });
}

/** GET following redirects; non-2xx statuses become UserErrors naming the URL. */
async function get(href: string, opts: HttpOptions): Promise<{ res: IncomingMessage; url: string }> {
  let url = new URL(href);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UserError(`unsupported URL scheme in ${href}: only http:// and https:// mirrors are supported`, EXIT.usage);
  for (let hop = 0; ; hop++) {
    let res: IncomingMessage;
    try {
      res = await request(url, opts);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UnreachableError(url.href, describe(e as NodeJS.ErrnoException));
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new UserError(`too many redirects fetching ${href}`);
      url = new URL(res.headers.location, url);
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      const reason = status === 404 ? 'not found on the mirror (wrong --mirror or release, or the archive moved on: retry to pick up the current index)' : (res.statusMessage ?? '');
      throw new UserError(`HTTP ${status} for ${url.href}: ${reason}`, EXIT.failure);
    }
    return { res, url: url.href };
  }
}

function truncated(url: string, got: number, want: number | undefined, why: string): UserError {
  return new UserError(`download of ${url} truncated: got ${got} bytes${want !== undefined ? ` of ${want}` : ''} (${why})`, EXIT.verification, 'retry; if it keeps happening, try another --mirror');
}

function contentLength(res: IncomingMessage): number | undefined {
  const v = res.headers['content-length'];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * Streams the body through `sink` while hashing and counting it. Checks the byte count against
 * Content-Length and the expected size, so a connection closed early is always an error.
 */
async function streamBody(href: string, opts: DownloadOptions, sink: (chunk: Buffer) => Promise<void> | void): Promise<{ sha256: string; size: number; url: string }> {
  const { res, url } = await get(href, opts);
  const declared = contentLength(res);
  const want = opts.expectedSize;
  if (want !== undefined && declared !== undefined && declared !== want) {
    res.destroy();
    throw declared < want
      ? truncated(url, declared, want, 'the server has fewer bytes than the index says')
      : new UserError(`size mismatch for ${url}: the index says ${want} bytes, the server has ${declared}`, EXIT.verification);
  }
  const total = want ?? declared;
  const hash = createHash('sha256');
  let size = 0;
  let lastReport = 0;
  const label = opts.label ?? url.slice(url.lastIndexOf('/') + 1);
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (want !== undefined && size > want) throw new UserError(`download of ${url} is larger than the ${want} bytes the index says`, EXIT.verification);
      hash.update(chunk);
      await sink(chunk);
      const now = Date.now();
      if (opts.progress && now - lastReport > 200) { lastReport = now; opts.progress.bytes(label, size, total); }
    }
  } catch (e) {
    res.destroy();
    if (e instanceof UserError) throw e;
    throw truncated(url, size, total, `connection closed early: ${describe(e as NodeJS.ErrnoException)}`);
  }
  if (!res.complete || (declared !== undefined && size !== declared)) throw truncated(url, size, total, 'connection closed early');
  if (want !== undefined && size !== want) throw truncated(url, size, want, 'the server sent fewer bytes than the index says');
  opts.progress?.bytes(label, size, total);
  return { sha256: hash.digest('hex'), size, url };
}

/** A small file into memory (indexes); refuses bodies over maxBytes. */
export async function fetchBuffer(href: string, opts: DownloadOptions & { maxBytes?: number } = {}): Promise<{ data: Buffer; sha256: string; size: number; url: string }> {
  const max = opts.maxBytes ?? 256 * 1024 * 1024;
  const chunks: Buffer[] = [];
  let n = 0;
  const r = await streamBody(href, opts, (c) => {
    n += c.length;
    if (n > max) throw new UserError(`${href} is larger than ${max} bytes: not what was expected`);
    chunks.push(c);
  });
  return { ...r, data: Buffer.concat(chunks) };
}

/** Streams a download to `dest` (a temp path the caller renames once verified). */
export async function fetchToFile(href: string, dest: string, opts: DownloadOptions = {}): Promise<{ sha256: string; size: number; url: string }> {
  const out = createWriteStream(dest, { mode: 0o644 });
  const opened = new Promise<void>((resolve, reject) => { out.once('open', () => resolve()); out.once('error', reject); });
  await opened;
  let failed: Error | undefined;
  out.on('error', (e) => { failed = e; });
  try {
    const r = await streamBody(href, opts, async (chunk) => {
      if (failed) throw failed;
      if (!out.write(chunk)) await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => { out.off('drain', onDrain); reject(e); };
        const onDrain = () => { out.off('error', onErr); resolve(); };
        out.once('drain', onDrain); out.once('error', onErr);
      });
    });
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (failed) throw failed;
    return r;
  } catch (e) {
    out.destroy();
    throw e;
  }
}
