// Degradations as a pure function of what an agent knows (test/fixtures/health/*.json: its
// observation, volume status, heal counts and every node's brick counts → the expected list),
// how status shows them, and the last error's life.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../core/status-format.js';
import type { Degradation, NodeStatus } from '../core/status-types.js';
import { lastErrorAfter } from '../firstboot/agent-status.js';
import { countEntries } from '../firstboot/brick-count.js';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { brickPort, brickProcesses, portRefuses, processGone } from '../firstboot/brick-listen.js';
import { parseVolumeStatus } from '../firstboot/gluster.js';
import { degradations, type HealthInput } from '../firstboot/health.js';

const DIR = join(import.meta.dirname, 'fixtures/health');

interface Fixture { why: string; input: HealthInput; expect: Degradation[] }

describe('degradations (golden fixtures)', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
  it('has fixtures for every kind', () => {
    const kinds = new Set(files.flatMap((f) => (JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture).expect.map((d) => d.what)));
    expect([...kinds].sort()).toEqual(['brick-offline', 'brick-returning', 'heal-pending', 'peer-disconnected', 'peer-rejected', 'replica-incomplete']);
  });
  for (const file of files) {
    const f = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Fixture;
    it(`${file}: ${f.why}`, () => {
      expect(degradations(f.input)).toEqual(f.expect);
      // the same input gives the same list, in any order of its members' counts
      expect(degradations({ ...f.input, counts: [...f.input.counts].reverse() })).toEqual(f.expect);
    });
  }
});

describe('gluster volume status --xml', () => {
  // glusterfs 10.3 with node3 powered off: its brick is left out, the self-heal daemons are listed too
  const xml = readFileSync(join(DIR, 'volume-status-node3-down.xml'), 'utf8');
  const B = '/data/glusterfs/gv0/brick1/brick';
  it('lists the bricks glusterd reaches with their process state and pid, no daemons', () => {
    expect(parseVolumeStatus(xml)).toEqual({ gv0: [{ brick: `node1:${B}`, online: true, pid: 9021 }, { brick: `node2:${B}`, online: true, pid: 9098 }] });
  });
  it('a brick whose process is not running is listed offline (status 0), without the pid glusterd last knew', () => {
    const killed = xml.replace(/(<hostname>node2<\/hostname>[\s\S]*?<status>)1(<\/status>)/, '$10$2');
    expect(parseVolumeStatus(killed).gv0).toEqual([{ brick: `node1:${B}`, online: true, pid: 9021 }, { brick: `node2:${B}`, online: false }]);
  });
});

describe('a brick process glusterd calls online: does it serve?', () => {
  const B = '/data/glusterfs/gv0/brick1/brick';
  // a process whose command line is a brick's, as glusterd starts it (argv[0] set by bash's exec -a)
  const brickLike = (volfileId: string, path: string) => spawn('bash', ['-c', `exec -a /usr/sbin/glusterfsd bash -c 'sleep 60; :' -s node3 --volfile-id ${volfileId} --brick-name ${path} --process-name brick --brick-port 53427`]);
  it('reads the port from the command line of the brick\'s own process only', async () => {
    const p = brickLike('gv0.node3.data-glusterfs-gv0-brick1-brick', B);
    const q = brickLike('gv0.node2.data-glusterfs-gv0-brick1-brick', B);
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(await brickPort(p.pid!, 'gv0', `node3:${B}`)).toBe(53427);
      // the same path on another node (the harness shares one pid space), another volume, another path: not it
      expect(await brickPort(q.pid!, 'gv0', `node3:${B}`)).toBeUndefined();
      expect(await brickPort(p.pid!, 'gv1', `node3:${B}`)).toBeUndefined();
      expect(await brickPort(p.pid!, 'gv0', 'node3:/data/glusterfs/gv0/brick2/brick')).toBeUndefined();
      expect(await brickPort(process.pid, 'gv0', `node3:${B}`)).toBeUndefined();
      // found among all processes when glusterd no longer names it
      expect(await brickProcesses('gv0', `node3:${B}`)).toEqual([{ pid: p.pid, port: 53427 }]);
      expect(await brickProcesses('gv0', `node1:${B}`)).toEqual([]);
    } finally { p.kill('SIGKILL'); q.kill('SIGKILL'); }
    expect(await processGone(p.pid!, 5_000)).toBe(true);
  });
  it('a port nobody listens on refuses; a listening one, and a name that does not resolve, do not count as refusing', async () => {
    const srv = createServer((c) => c.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    expect(await portRefuses('127.0.0.1', port)).toBe(false);
    await new Promise((r) => srv.close(r));
    expect(await portRefuses('127.0.0.1', port)).toBe(true);
    expect(await portRefuses('no-such-node.invalid', port)).toBe(false);
  });
});

describe('brick entry count', () => {
  it('counts files and directories, shards included, Gluster\'s .glusterfs at the brick root left out; stops at its bound', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pc-brick-'));
    try {
      for (const d of ['.glusterfs/ab/cd', '.glusterfs/indices/xattrop', '.shard', 'vm/disks', 'iso']) mkdirSync(join(root, d), { recursive: true });
      for (const f of ['.glusterfs/ab/cd/x', 'vm/disks/a.qcow2', 'vm/web.xml', 'iso/debian.iso', '.shard/gfid.1', '.shard/gfid.2']) writeFileSync(join(root, f), '');
      // a directory named .glusterfs below the root is a user's and counts
      mkdirSync(join(root, 'vm/.glusterfs'));
      // .shard and its 2 shards, vm, vm/disks, vm/disks/a.qcow2, vm/web.xml, vm/.glusterfs, iso, iso/debian.iso
      expect(await countEntries(root)).toEqual({ entries: 10, capped: false });
      expect(await countEntries(root, 4)).toEqual({ entries: 4, capped: true });
    } finally { rmSync(root, { recursive: true, force: true }); }
  });
});

describe('status shows degradations', () => {
  const status = (degraded: Degradation[]): NodeStatus => ({
    node: 'node1', cluster: 'testcloud', keyId: 'k', startedAt: '', planNodes: [], planDigest: '', leader: 'node1', converged: true,
    glusterd: { running: true, peers: [] }, bricksReady: true, cert: null, caTrusts: [], members: [], refused: [], steps: [], volumes: [], lastError: null,
    health: { degraded, checkedAt: '2026-12-07T10:00:00.000Z' },
  });
  it('a converged node with problems says DEGRADED in its headline and names each', () => {
    const text = formatStatus(status([
      { what: 'brick-offline', subject: 'gv0 node3:/b', detail: 'not running', since: '2026-12-07T09:59:00.000Z' },
      { what: 'heal-pending', subject: 'gv0', detail: '3 entries wait' },
    ]));
    expect(text.split('\n')[0]).toMatch(/— converged — DEGRADED: 2 problems; leader: node1$/);
    expect(text).toContain('  DEGRADED brick-offline gv0 node3:/b (since 2026-12-07T09:59:00.000Z): not running\n  DEGRADED heal-pending gv0: 3 entries wait\n');
  });
  it('a healthy converged node says converged, nothing more', () => {
    const text = formatStatus(status([]));
    expect(text.split('\n')[0]).toMatch(/— converged; leader: node1$/);
    expect(text).not.toContain('DEGRADED');
  });
});

describe('last error', () => {
  const err = { step: 'volumes', message: 'volume set: failed: Another transaction is in progress', at: 't1' };
  it('is set by a failing step and cleared when that step next finishes or waits without error', () => {
    expect(lastErrorAfter(null, 'volumes', { state: 'error', error: err.message, at: 't1' })).toEqual(err);
    expect(lastErrorAfter(err, 'volumes', { state: 'done', at: 't2' })).toBeNull();
    expect(lastErrorAfter(err, 'volumes', { state: 'waiting', at: 't2' })).toBeNull();
  });
  it('stays while the step is still failing, pending or needing attention, and when another step succeeds', () => {
    expect(lastErrorAfter(err, 'volumes', { state: 'pending', at: 't2' })).toBe(err);
    expect(lastErrorAfter(err, 'volumes', { state: 'attention', error: 'disk holds data', at: 't2' })).toEqual({ step: 'volumes', message: 'disk holds data', at: 't2' });
    expect(lastErrorAfter(err, 'mounts', { state: 'done', at: 't2' })).toBe(err);
  });
});
