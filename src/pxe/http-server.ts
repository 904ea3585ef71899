// The HTTP side of `serve`: the tree's files (for iPXE and for large files) and the endpoint a
// freshly installed node calls so that its next network boot goes to the local disk.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join, normalize, sep } from 'node:path';
import { STATE_FILE } from './layout.js';
import { findNode, readState, setInstalled, tokenMatches } from './state.js';

export interface HttpEvents {
  /** One line per request worth telling the user about (never the token). */
  log(line: string): void;
}

async function serveFile(tree: string, urlPath: string, res: ServerResponse): Promise<string | undefined> {
  const rel = normalize(decodeURIComponent(urlPath)).replace(/^[/\\]+/, '');
  if (rel === '' || rel.startsWith('..') || rel === STATE_FILE || rel.split(sep).some((p) => p.startsWith('.'))) return undefined;
  const file = join(tree, rel);
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
  await new Promise<void>((resolve) => { createReadStream(file).on('end', resolve).on('error', () => { res.destroy(); resolve(); }).pipe(res); });
  return rel;
}

export function createPxeHttpServer(tree: string, events: HttpEvents): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, text: string) => { res.writeHead(code, { 'content-type': 'text/plain' }); res.end(`${text}\n`); };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET');
    const m = /^\/installed\/([0-9a-fA-F:]{17})$/.exec(url.pathname);
    if (m) {
      // Read per request: `serve --reinstall` in another terminal changes the file.
      const state = await readState(tree);
      const found = state && findNode(state, m[1]);
      if (!found) { events.log(`${req.socket.remoteAddress}: "installed" report for unknown MAC ${m[1]} ignored`); return send(404, 'unknown MAC'); }
      const [name, node] = found;
      if (!tokenMatches(node, url.searchParams.get('token') ?? '')) {
        events.log(`${req.socket.remoteAddress}: "installed" report for ${name} with a wrong token refused`);
        return send(403, 'wrong token');
      }
      const changed = await setInstalled(tree, state!, name, true);
      events.log(`${name} ${node.mac} reported installed${changed ? ': its network boot now goes to the local disk' : ' (already was)'}`);
      return send(200, `${name} installed: next network boot is local`);
    }
    const rel = await serveFile(tree, url.pathname, res);
    if (rel) events.log(`${req.socket.remoteAddress} fetched ${rel} over HTTP`);
    else send(404, 'not found');
  };
  return createServer((req, res) => {
    handle(req, res).catch((e) => {
      events.log(`HTTP ${req.url?.replace(/token=[^&]*/, 'token=…')}: ${(e as Error).message}`);
      if (!res.headersSent) { res.writeHead(500); res.end(); }
    });
  });
}
