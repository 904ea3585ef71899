// One call on the agents' authenticated channel, made from inside a harness namespace (the
// host has no route to the nodes): `node channel-call.mjs REQUEST.json` with
// { key, from, address, op, body? }; prints the answer as JSON, or the error on stderr (exit 1).
import { readFileSync } from 'node:fs';
import { call } from '../../core/channel.js';
import { AGENT_PORT } from '../../core/paths.js';

const r = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { key: string; from: string; address: string; op: string; body?: unknown };
try {
  const out = await call<unknown>(r.key, r.from, r.address, AGENT_PORT, r.op, r.body ?? null, 10_000);
  process.stdout.write(`${JSON.stringify({ node: out.node, data: out.data })}\n`);
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
}
