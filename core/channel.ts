// The agent's authenticated channel: HTTP on the agent port, every request and every answer
// MACed with the join key (auth.ts). Used between agents (status, certificates, plan) and by
// `personal-cloud status` on the admin machine.
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { keyIdOf, macEqual, nonce, requestMac, responseMac, ReplayGuard } from './auth.js';

export type Handler = (from: string, body: unknown) => Promise<unknown>;

export interface Refusal { from: string; address: string; reason: string }

export interface ChannelServerOptions {
  key: string;
  node: string;
  port: number;
  host?: string;
  handlers: Record<string, Handler>;
  onRefused(r: Refusal): void;
}

function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => { size += c.length; if (size > limit) { reject(new Error('request too large')); req.destroy(); } else chunks.push(c); });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function startChannelServer(o: ChannelServerOptions): Promise<Server> {
  const replay = new ReplayGuard();
  const ourKeyId = keyIdOf(o.key);
  const server = createServer(async (req, res) => {
    const address = (req.socket.remoteAddress ?? '?').replace(/^::ffff:/, '');
    const m = /^\/v1\/([a-z-]+)$/.exec(req.url ?? '');
    const send = (code: number, body: unknown, reqNonce?: string, op?: string) => {
      const text = JSON.stringify(body);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-pc-node': o.node };
      if (reqNonce && op) headers['x-pc-mac'] = responseMac(o.key, op, o.node, reqNonce, text);
      res.writeHead(code, headers).end(text);
    };
    if (req.method !== 'POST' || !m || !o.handlers[m[1]]) { send(404, { error: 'not found' }); return; }
    const op = m[1];
    let body: string;
    try { body = await readBody(req); } catch { send(413, { error: 'too large' }); return; }
    const from = String(req.headers['x-pc-from'] ?? '');
    const n = String(req.headers['x-pc-nonce'] ?? '');
    const mac = String(req.headers['x-pc-mac'] ?? '');
    const theirKeyId = String(req.headers['x-pc-key-id'] ?? '');
    if (!/^[0-9a-f]{32}$/.test(n) || !macEqual(mac, requestMac(o.key, op, from, n, body))) {
      const reason = theirKeyId && theirKeyId !== ourKeyId
        ? `join proof failed: it uses key id ${theirKeyId}, ours is ${ourKeyId} (wrong cluster secret?)`
        : 'join proof failed (bad MAC)';
      o.onRefused({ from: from || '?', address, reason });
      send(401, { error: 'join proof failed', keyId: ourKeyId });
      return;
    }
    if (!replay.fresh(n)) { o.onRefused({ from, address, reason: 'replayed request' }); send(401, { error: 'replayed request', keyId: ourKeyId }); return; }
    try {
      const parsed = body ? JSON.parse(body) : null;
      send(200, await o.handlers[op](from, parsed), n, op);
    } catch (e) {
      send(500, { error: (e as Error).message }, n, op);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '::', () => { server.off('error', reject); resolve(server); });
  });
}

export type CallFailure = 'unreachable' | 'refused' | 'bad-proof' | 'error';

export class CallError extends Error {
  constructor(readonly kind: CallFailure, message: string, readonly peerKeyId?: string) { super(message); }
}

export interface CallResult<T> { node: string; data: T }

/** Calls `op` on an agent; resolves only if the answer proves knowledge of the join key. */
export function call<T>(key: string, from: string, address: string, port: number, op: string, body: unknown = null, timeoutMs = 3000): Promise<CallResult<T>> {
  const text = JSON.stringify(body);
  const n = nonce();
  const headers = {
    'content-type': 'application/json',
    'x-pc-from': from,
    'x-pc-nonce': n,
    'x-pc-key-id': keyIdOf(key),
    'x-pc-mac': requestMac(key, op, from, n, text),
  };
  return new Promise((resolve, reject) => {
    const host = address.includes(':') ? `[${address}]` : address;
    const req = request(`http://${host}:${port}/v1/${op}`, { method: 'POST', headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const payload = Buffer.concat(chunks).toString('utf8');
        const node = String(res.headers['x-pc-node'] ?? '');
        if (res.statusCode === 401) {
          let keyId: string | undefined;
          try { keyId = JSON.parse(payload).keyId; } catch { /* not JSON */ }
          reject(new CallError('refused', `${node || address} refused our join proof${keyId && keyId !== keyIdOf(key) ? ` (it uses key id ${keyId}, ours is ${keyIdOf(key)}: wrong cluster secret?)` : ''}`, keyId));
          return;
        }
        const mac = String(res.headers['x-pc-mac'] ?? '');
        if (!macEqual(mac, responseMac(key, op, node, n, payload))) {
          reject(new CallError('bad-proof', `${node || address} answered without a valid join proof (wrong cluster secret?)`));
          return;
        }
        let data: unknown;
        try { data = JSON.parse(payload); } catch { reject(new CallError('error', `${node}: invalid JSON`)); return; }
        if (res.statusCode !== 200) { reject(new CallError('error', `${node}: ${(data as { error?: string })?.error ?? res.statusCode}`)); return; }
        resolve({ node, data: data as T });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => reject(new CallError('unreachable', `${address}:${port}: ${e.message}`)));
    req.end(text);
  });
}
