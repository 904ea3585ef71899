// A loopback HTTP server that plays a Debian mirror from captured files, with per-path
// behaviours for tampering tests (flip a byte, cut the connection, serve fewer bytes).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Route =
  | { data: Buffer }
  | { file: string; flipByteAt?: number; cutAfter?: number; shortBy?: number };

export interface MirrorServer {
  url: string;
  routes: Map<string, Route>;
  requests: string[];
  close(): Promise<void>;
}

export async function startMirror(routes = new Map<string, Route>()): Promise<MirrorServer> {
  const requests: string[] = [];
  const server = http.createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const route = routes.get(path);
    if (!route) { res.writeHead(404).end(); return; }
    if ('data' in route) { res.writeHead(200, { 'content-length': route.data.length }).end(route.data); return; }
    const { size } = await stat(route.file);
    const served = size - (route.shortBy ?? 0);
    res.writeHead(200, { 'content-length': served });
    let sent = 0;
    const stream = createReadStream(route.file, { end: served - 1 });
    stream.on('data', (c) => {
      let chunk = c as Buffer;
      if (route.flipByteAt !== undefined && route.flipByteAt >= sent && route.flipByteAt < sent + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[route.flipByteAt - sent] ^= 0xff;
      }
      if (route.cutAfter !== undefined && sent + chunk.length > route.cutAfter) {
        stream.destroy();
        res.write(chunk.subarray(0, route.cutAfter - sent), () => res.socket?.destroy());
        return;
      }
      sent += chunk.length;
      if (!res.write(chunk)) { stream.pause(); res.once('drain', () => stream.resume()); }
    });
    stream.on('end', () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/debian`,
    routes, requests,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
