// The HTTP side of `serve`: the tree's files (for iPXE and for large files) and the endpoint a
// freshly installed node calls so that its next network boot goes to the local disk.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join, normalize, sep } from 'node:path';
import { STATE_FILE } from './layout.js';
import { findNode, readState, setInstalled, tokenMatches } from './state.js';

export interface HttpEvents {
  /** One line per request worth telling the user about (never the token). */
  log(line: string): void;
}

/** Sends a file of the tree; undefined when there is no such (public) file. */
async function serveFile(tree: string, urlPath: string, req: IncomingMessage, res: ServerResponse): Promise<{ rel: string; complete: boolean } | undefined> {
  const rel = normalize(decodeURIComponent(urlPath)).replace(/^[/\\]+/, '');
  if (rel === '' || rel.startsWith('..') || rel === STATE_FILE || rel.split(sep).some((p) => p.startsWith('.'))) return undefined;
  const file = join(tree, rel);
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
  if (req.method === 'HEAD') { res.end(); return { rel, complete: true }; }
  // `end` bounds the read, so the stream ends right after its last chunk: without it the final
  // empty read can lose the race with a client that hangs up once it has all bytes, and the
  // stream then never ends. pipeline closes the file when the client goes away early.
  const complete = await pipeline(createReadStream(file, st.size > 0 ? { end: st.size - 1 } : {}), res).then(() => true, () => false);
  return { rel, complete };
}

/** The client's address as the user knows it (no IPv4-mapped IPv6 prefix). */
const peer = (req: IncomingMessage) => (req.socket.remoteAddress ?? '?').replace(/^::ffff:/, '');

export function createPxeHttpServer(tree: string, events: HttpEvents): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // Taken now: once the client has hung up its socket no longer knows the address.
    const who = peer(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, text: string) => { res.writeHead(code, { 'content-type': 'text/plain' }); res.end(`${text}\n`); };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET');
    const m = /^\/installed\/([0-9a-fA-F:]{17})$/.exec(url.pathname);
    if (m) {
      // Read per request: `serve --reinstall` in another terminal changes the file.
      const state = await readState(tree);
      const found = state && findNode(state, m[1]);
      if (!found) { events.log(`${who}: "installed" report for unknown MAC ${m[1]} ignored`); return send(404, 'unknown MAC'); }
      const [name, node] = found;
      if (!tokenMatches(node, url.searchParams.get('token') ?? '')) {
        events.log(`${who}: "installed" report for ${name} with a wrong token refused`);
        return send(403, 'wrong token');
      }
      const changed = await setInstalled(tree, state!, name, true);
      events.log(`${name} ${node.mac} reported installed${changed ? ': its network boot now goes to the local disk' : ' (already was)'}`);
      return send(200, `${name} installed: next network boot is local`);
    }
    const sent = await serveFile(tree, url.pathname, req, res);
    if (!sent) send(404, 'not found');
    else events.log(sent.complete ? `${who} fetched ${sent.rel} over HTTP` : `${who} went away before the end of ${sent.rel} (HTTP)`);
  };
  return createServer((req, res) => {
    handle(req, res).catch((e) => {
      events.log(`HTTP ${req.url?.replace(/token=[^&]*/, 'token=…')}: ${(e as Error).message}`);
      if (!res.headersSent) { res.writeHead(500); res.end(); }
    });
  });
}
