// What the web console shows from one status report (console/view.ts): node states, volume
// health, VMs, and every problem in plain words. The browser test (console-browser.test.ts)
// checks the same page drawn from a real cluster.
import { describe, expect, it } from 'vitest';
import type { HaStatus } from '../core/ha-status.js';
import type { StatusReport } from '../core/status-types.js';
import { consoleView, plainError } from '../console/view.js';

const BRICK = '/data/glusterfs/gv0/brick1/brick';
const bricks = ['node1', 'node2', 'node3'].map((n) => `${n}:${BRICK}`);

function report(over: Partial<StatusReport> = {}): StatusReport {
  return {
    node: 'node1', cluster: 'home', keyId: 'k', startedAt: '', planNodes: ['node1', 'node2', 'node3'], planDigest: '', leader: 'node1', converged: true,
    glusterd: { running: true, peers: [{ name: 'node2', connected: true, state: 'Peer in Cluster' }, { name: 'node3', connected: true, state: 'Peer in Cluster' }] },
    bricksReady: true, cert: null, caTrusts: [],
    members: ['node2', 'node3'].map((name, i) => ({ name, address: `10.0.0.${12 + i}`, source: 'plan' as const, admitted: true, lastSeen: 't', converged: true, steps: [{ name: 'hosts', state: 'done' as const, detail: 'ok', at: 't' }] })),
    refused: [],
    steps: [{ name: 'hosts', state: 'done', detail: '3 names', at: 't' }, { name: 'volumes', state: 'done', detail: 'gv0 started', at: 't' }],
    volumes: [{ name: 'gv0', exists: true, started: true, type: 'Replicate', bricks, mounted: true, heal: bricks.map((brick) => ({ brick, connected: true, entries: 0 })) }],
    lastError: null, health: { degraded: [], checkedAt: 't' },
    ...over,
  };
}

describe('web console view', () => {
  it('a healthy cluster: three nodes up, gv0 healthy, no problems, HA off', () => {
    const v = consoleView(report());
    expect(v.verdict).toBe('healthy');
    expect(v.headline).toBe('Cluster home is healthy');
    expect(v.nodes.map((n) => [n.name, n.state, n.leader, n.self])).toEqual([['node1', 'up', true, true], ['node2', 'up', false, false], ['node3', 'up', false, false]]);
    expect(v.nodes[1].steps.map((s) => s.name)).toEqual(['hosts']);
    expect(v.volumes).toMatchObject([{ name: 'gv0', state: 'healthy', healPending: 0, bricks: [{ node: 'node1', path: BRICK, online: true, heal: 0 }, {}, {}] }]);
    expect(v.vms).toBeNull();
    expect(v.problems).toEqual([]);
    expect(v.quorum).toBe('storage: 3 of 3 nodes up');
    expect(v.volumes[0].space).toBeUndefined();
  });

  it('free space of a volume as this node\'s mount sees it, in binary units', () => {
    const v = consoleView(report({ volumes: [{ ...report().volumes[0], space: { size: 40 * 2 ** 30, free: 12.25 * 2 ** 30, at: 't' } }] }));
    expect(v.volumes[0].space).toBe('12.3 GiB free of 40.0 GiB');
  });

  it('a node killed: down with the reason in plain words, gv0 degraded with its degradations, its brick offline before `volume status` says so', () => {
    const s = report({
      members: [report().members[0], { name: 'node3', address: '10.0.0.14', source: 'plan', admitted: true, lastSeen: 't', error: 'connect ECONNREFUSED 10.0.0.14:7447' }],
      glusterd: { running: true, peers: [{ name: 'node2', connected: true, state: 'Peer in Cluster' }, { name: 'node3', connected: false, state: 'Peer in Cluster' }] },
      brickStatus: { at: 't', volumes: { gv0: bricks.map((brick) => ({ brick, online: true })) } },
      volumes: [{ ...report().volumes[0], heal: bricks.map((brick) => ({ brick, connected: !brick.startsWith('node3'), entries: brick.startsWith('node3') ? -1 : 4 })) }],
      health: { checkedAt: 't', degraded: [{ what: 'peer-disconnected', subject: 'node3', detail: 'node3 is not connected' }, { what: 'brick-offline', subject: `gv0 node3:${BRICK}`, detail: 'brick offline' }] },
    });
    const v = consoleView(s);
    expect(v.nodes[2]).toMatchObject({ name: 'node3', state: 'down', why: 'its agent is not running (connection refused)' });
    expect(v.volumes[0]).toMatchObject({ state: 'degraded', healPending: 8 });
    expect(v.volumes[0].bricks[2]).toEqual({ node: 'node3', path: BRICK, online: false, heal: 0 });
    expect(v.volumes[0].problems.map((p) => p.what)).toEqual(['brick-offline']);
    expect(v.verdict).toBe('degraded');
    expect(v.problems.map((p) => p.subject)).toEqual(['node3', 'node3', `gv0 node3:${BRICK}`]);
    expect(v.problems[0].detail).toBe('node3 is down: its agent is not running (connection refused).');
    expect(v.quorum).toBe('storage: 2 of 3 nodes up');
  });

  it('the local agent is down: the saved status, said so, and what to check', () => {
    const v = consoleView(report({ unanswered: 'connect ECONNREFUSED 127.0.0.1:7447' }));
    expect(v.verdict).toBe('stale');
    expect(v.stale).toBeTruthy();
    expect(v.nodes[0]).toMatchObject({ state: 'unknown', why: 'this node, its agent is not answering' });
    expect(v.problems[0].detail).toBe('The agent on node1 is not answering (agent is not running (connection refused)): this page shows the status it saved last. Check it with `systemctl status personal-cloud-agent` on node1.');
    expect(v.quorum).toBe('storage: unknown (this node\'s agent is not answering)');
  });

  it('HA: quorum and votes, drained and fenced nodes, where each VM runs, failed VMs and step errors as problems', () => {
    const ha: HaStatus = {
      node: 'node1', enabled: true,
      corosync: { running: true, quorate: true, expectedVotes: 3, totalVotes: 2 },
      pacemaker: { ok: true, dc: 'node1', quorate: true, fencing: [], resources: [],
        nodes: [{ name: 'node1', online: true, standby: false, unclean: false }, { name: 'node2', online: true, standby: true, unclean: false }, { name: 'node3', online: false, standby: false, unclean: true }] },
      vms: [{ name: 'web', resource: 'vm-web', role: 'Started', nodes: ['node2'], failed: false, memoryMiB: 2048, vcpus: 2 }, { name: 'db', resource: 'vm-db', role: 'Stopped', targetRole: 'Stopped', nodes: [], failed: false },
        { name: 'bad', resource: 'vm-bad', role: 'Stopped', nodes: [], failed: true }],
    };
    const v = consoleView(report({ ha, steps: [{ name: 'disks', state: 'attention', detail: '/dev/vdb holds data: wipe it or name another disk', at: 't' }] }));
    expect(v.quorum).toBe('quorate: 2 of 3 votes');
    expect(v.nodes.map((n) => n.state)).toEqual(['up', 'draining', 'fenced']);
    expect(v.nodes[1].why).toBe('draining: moving web away');
    expect(v.vms).toEqual([
      { name: 'web', running: true, state: 'running', node: 'node2', failed: false, size: '2.0 GiB · 2 vCPUs' },
      { name: 'db', running: false, state: 'stopped', node: undefined, failed: false },
      { name: 'bad', running: false, state: 'failed', node: undefined, failed: true },
    ]);
    expect(v.problems.map((p) => p.subject)).toEqual(['node3', 'node1 disks', 'bad']);
    expect(v.problems[0].detail).toBe('node3 is fenced: lost and fenced (or being fenced) by the cluster: its VMs restart elsewhere.');
    expect(consoleView(report({ ha: { error: 'timed out after 30000 ms' } }))).toMatchObject({ haError: 'timed out after 30000 ms', vms: null, verdict: 'degraded' });
  });

  it('HA: this node out of quorum is a problem that says what it means and where to go instead', () => {
    const ha: HaStatus = {
      node: 'node1', enabled: true, corosync: { running: true, quorate: false, expectedVotes: 3, totalVotes: 1 },
      pacemaker: { ok: true, dc: 'node1', quorate: false, fencing: [], resources: [], nodes: [{ name: 'node1', online: true, standby: false, unclean: false }] }, vms: [],
    };
    const v = consoleView(report({ ha }));
    expect(v.quorum).toBe('NOT quorate: 1 of 3 votes');
    expect(v.verdict).toBe('degraded');
    expect(v.problems).toContainEqual({ subject: 'node1', detail: 'node1 is out of quorum (1 of 3 votes): Pacemaker here runs no VMs and actions from this page will not take effect; open the console of a node that is in the majority.' });
  });

  it('channel errors in plain words', () => {
    expect(plainError('request timed out after 4000 ms')).toMatch(/does not answer/);
    expect(plainError('connect EHOSTUNREACH 10.0.0.3:7447')).toMatch(/unreachable/);
    expect(plainError('answered as node9, expected node3')).toBe('answered as node9, expected node3');
  });
});
