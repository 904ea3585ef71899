import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveJoinKey } from '../src/plan/keys.js';
import { cli } from './helpers/cli.js';
import { REPO_ROOT } from './helpers/installer-cache.js';

const CONFIG = join(REPO_ROOT, 'test/fixtures/iso/cluster.yaml');
const SECRET = 'pcs1_iso-test-secret-Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0';
let work: string;
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'pc-render-')); });
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

describe('render', () => {
  it("writes a node's agent files like the installer would, with the derived key only (0600)", async () => {
    const out = join(work, 'node2');
    const r = await cli(['render', '--config', CONFIG, '--node', 'node2', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const key = await readFile(join(out, 'etc/personal-cloud/join.key'), 'utf8');
    expect(key.trim()).toBe(deriveJoinKey(SECRET, 'qemulab'));
    expect((await stat(join(out, 'etc/personal-cloud/join.key'))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(out, 'etc/personal-cloud/node.json'), 'utf8'))).toEqual({ node: 'node2' });
    const plan = JSON.parse(await readFile(join(out, 'etc/personal-cloud/cluster.json'), 'utf8'));
    expect(plan.nodes.map((n: { name: string }) => n.name)).toEqual(['node1', 'node2', 'node3']);
    expect(await readFile(join(out, 'etc/systemd/system/personal-cloud-agent.service'), 'utf8')).toMatch(/^ExecStart=\/usr\/bin\/node (--\S+ )*\/usr\/lib\/personal-cloud\/personal-cloud-agent\.mjs run$/m);
    for (const f of await walk(out)) expect((await readFile(f)).includes(Buffer.from(SECRET))).toBe(false);
  });

  it('renders every node with --all and explains bad arguments', async () => {
    const r = await cli(['render', '--config', CONFIG, '--all', '--out', join(work, 'all')]);
    expect(r.code).toBe(0);
    expect((await readdir(join(work, 'all'))).sort()).toEqual(['node1', 'node2', 'node3']);
    const missing = await cli(['render', '--config', CONFIG, '--node', 'node9', '--out', join(work, 'x')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no node named 'node9'.*nodes: node1, node2, node3/);
    const epoch = await cli(['render', '--config', CONFIG, '--node', 'node1', '--out', join(work, 'z')], { env: { SOURCE_DATE_EPOCH: 'yesterday' } });
    expect([epoch.code, epoch.stderr]).toEqual([2, expect.stringMatching(/SOURCE_DATE_EPOCH must be a number of seconds, got 'yesterday'/)]);
    const both = await cli(['render', '--config', CONFIG, '--out', join(work, 'y')]);
    expect(both.code).toBe(2);
    expect(both.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });
});
