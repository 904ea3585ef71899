// A 2-node cluster with a quorum device (namespace harness, real corosync, Pacemaker,
// corosync-qnetd and corosync-qdevice): node1 and node2 hold the data and are the corosync
// members; node3 is the Gluster arbiter and, named by ha.qdevice, runs corosync-qnetd — the agents
// exchange the qdevice certificates over their authenticated channel. Scenarios, in order: the
// cluster forms with 3 expected votes (2 nodes + the device); node2 dies → node1 keeps quorum
// (2 of 3 votes) and fences node2; without the device's vote node1 alone loses quorum (qnetd
// stopped) and regains it when qnetd returns; node2 comes back with its qdevice database cut short
// (as by a crash) → the agent makes it again and both are quorate with 3 votes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQuorumtool } from '../firstboot/ha/api.js';
import type { HaStatus } from '../core/ha-status.js';
import { confMembers } from '../firstboot/ha/corosync-conf.js';
import { parseQdeviceTool, parseQnetdTool, pemBody } from '../firstboot/ha/quorum-device.js';
import { FENCE_AGENT, HaCluster, slugDir } from './harness/ha-cluster.js';
import { sleep, waitFor } from './harness/sh.js';

const NODES = ['node1', 'node2', 'node3'];
const MEMBERS = ['node1', 'node2'];
let c: HaCluster;

async function quorum(node: string): Promise<HaStatus['corosync'] & { raw: string }> {
  const r = await c.on(node, 'corosync-quorumtool', ['-s'], { allowFail: true, timeoutMs: 15_000 });
  if (!/Quorate:/.test(r.stdout)) return { running: false, error: (r.stderr || r.stdout).trim(), raw: r.stdout };
  return { ...parseQuorumtool(r.stdout), raw: r.stdout };
}

async function qdeviceState(node: string) {
  return parseQdeviceTool((await c.on(node, 'corosync-qdevice-tool', ['-s'], { allowFail: true, timeoutMs: 15_000 })).stdout);
}

async function qnetdClients() {
  return parseQnetdTool((await c.on('node3', 'corosync-qnetd-tool', ['-l'], { allowFail: true, timeoutMs: 15_000 })).stdout);
}

/** Both members quorate with 2 nodes + the device, each one's qdevice connected. */
async function formed(): Promise<boolean> {
  for (const n of MEMBERS) {
    const q = await quorum(n);
    if (!(q.quorate && q.expectedVotes === 3 && q.totalVotes === 3 && q.qdevice?.votes === 1 && q.members?.join(' ') === 'node1 node2')) return false;
    if (!/^Connected/.test((await qdeviceState(n)).state ?? '')) return false;
  }
  return true;
}

const corosyncLog = (n: string) => { try { return readFileSync(join(slugDir(n, '/var/log/corosync'), 'corosync.log'), 'utf8'); } catch { return ''; } };
const QUORUM_LOST = /This node is within the non-primary component/;
const signatures = () => (c.h.logTail('node3', 100_000).match(/signed the quorum device certificate of node\d/g) ?? []).sort();

async function agentCli(node: string, args: string[]) {
  return c.on(node, process.execPath, [c.h.agentPath, ...args], { allowFail: true, timeoutMs: 120_000 });
}

describe('2 nodes + quorum device (corosync-qnetd on the arbiter): quorum survives one dead node', () => {
  beforeAll(async () => {
    const t = Date.now();
    c = await HaCluster.create(NODES, { arbiter: 'node3', qdevice: 'node3', bridges: [] });
    await c.start();
    try {
      await waitFor('every agent\'s ha step done', 420_000, async () => NODES.every((n) => c.h.snapshot(n)?.steps.find((s) => s.name === 'ha')?.state === 'done'), 1000);
      await waitFor('node1 and node2 quorate with the device', 120_000, formed, 1000);
    } catch (e) {
      for (const n of NODES) console.error(`---- ${n}\n${c.h.logTail(n, 40)}\n${JSON.stringify(c.h.snapshot(n)?.steps.filter((s) => s.state !== 'done'))}`);
      throw e;
    }
    console.log(`[qdevice] cluster formed with the quorum device ${((Date.now() - t) / 1000).toFixed(1)} s after the harness started`);
  }, 600_000);

  afterAll(async () => { if (process.env.PC_HA_KEEP !== '1') await c?.teardown(); }, 180_000);

  it('formed: node1 and node2 are the corosync members, node3 runs corosync-qnetd and signed their certificates', async () => {
    const conf = (await c.on('node1', 'cat', ['/etc/corosync/corosync.conf'])).stdout;
    expect(confMembers(conf)).toEqual(MEMBERS);
    expect(conf).toMatch(/device \{\n\s+model: net\n\s+votes: 1\n\s+net \{\n\s+host: 10\.77\.5\.13\n\s+algorithm: ffsplit\n\s+tls: on/);
    const q = await quorum('node2');
    const qdTool = (await c.on('node1', 'corosync-qdevice-tool', ['-s'], { allowFail: true })).stdout;
    const qnTool = (await c.on('node3', 'corosync-qnetd-tool', ['-l'], { allowFail: true })).stdout;
    console.log(`[qdevice] corosync-quorumtool -s on node2:\n${q.raw.trim()}\n[qdevice] corosync-qdevice-tool -s on node1:\n${qdTool.trim()}\n[qdevice] corosync-qnetd-tool -l on node3:\n${qnTool.trim()}`);
    expect(q.raw).toMatch(/^Flags:\s+Quorate Qdevice/m);
    // node3 is no corosync member: no corosync, no Pacemaker there
    expect((await quorum('node3')).running).toBe(false);
    expect((await c.on('node3', 'cat', ['/etc/corosync/corosync.conf'], { allowFail: true })).stdout).not.toContain('personal-cloud-agent');
    const clients = await qnetdClients();
    expect(clients.map((x) => [x.cluster, x.nodeId, x.vote]).sort()).toEqual([['testcloud', 1, 'ACK'], ['testcloud', 2, 'ACK']]);
    // the certificates came through the channel: each member has its own, signed by node3's CA
    expect(signatures()).toEqual(['signed the quorum device certificate of node1', 'signed the quorum device certificate of node2']);
    const qnetdCa = pemBody((await c.on('node3', 'cat', ['/etc/corosync/qnetd/nssdb/qnetd-cacert.crt'])).stdout);
    expect(qnetdCa).toBeTruthy();
    const hostCa = pemBody(readFileSync('/etc/corosync/qnetd/nssdb/qnetd-cacert.crt', 'utf8'));
    expect(qnetdCa).not.toBe(hostCa); // made by node3's agent, not copied from the package's postinst
    for (const n of MEMBERS) {
      const db = '/etc/corosync/qdevice/net/nssdb';
      expect(pemBody((await c.on(n, 'certutil', ['-L', '-d', db, '-n', 'QNet CA', '-a'])).stdout)).toBe(qnetdCa);
      expect((await c.on(n, 'certutil', ['-L', '-d', db, '-n', 'Cluster Cert'])).stdout).toMatch(/Subject: "CN=testcloud"/);
      expect((await c.on(n, 'stat', ['-c', '%a %U', db, `${db}/key4.db`])).stdout.trim()).toBe('770 root\n660 root');
      expect((await c.on(n, 'ls', [db])).stdout).not.toMatch(/\.p12|\.crq/); // no spare copy of the private key
    }
    // Pacemaker: the two members only, fencing for them only
    const mon = (await c.on('node1', 'crm_mon', ['-1'])).stdout;
    expect(mon).toMatch(/Online: \[ node1 node2 \]/);
    expect(mon).not.toMatch(/node3/);
    const res = (await c.on('node1', 'cibadmin', ['-Q', '-o', 'resources'])).stdout;
    expect(res).toContain(`type="${FENCE_AGENT}"`);
    expect(res).toMatch(/name="pcmk_host_list" value="node1 node2"/);
    // status: the device's vote on a member, the connected members on the qnetd node
    const st1 = (await agentCli('node1', ['status'])).stdout;
    expect(st1).toMatch(/corosync: quorate \(3 of 3 votes; members node1 node2; quorum device 1 vote, Connected to 10\.77\.5\.13:5403\)/);
    const st3 = (await agentCli('node3', ['status'])).stdout;
    expect(st3).toMatch(/quorum device \(corosync-qnetd\): running; testcloud node 1 \(10\.77\.5\.11\) vote ACK; testcloud node 2 \(10\.77\.5\.12\) vote ACK$/m);
    expect(c.h.snapshot('node3')!.steps.find((s) => s.name === 'virt')!.detail).toMatch(/quorum device/);
  }, 120_000);

  it('node2 dies: node1 keeps quorum with the device\'s vote (2 of 3) and fences node2', async () => {
    const logFrom = corosyncLog('node1').length;
    const t = Date.now();
    await c.killNode('node2');
    const alone = await waitFor('node1 alone in the membership', 60_000, async () => {
      const q = await quorum('node1');
      return q.members?.join(' ') === 'node1' ? q : null;
    }, 250);
    const secs = (Date.now() - t) / 1000;
    console.log(`[qdevice] node2 killed → node1 alone after ${secs.toFixed(1)} s: quorate ${alone.quorate}, ${alone.totalVotes} of ${alone.expectedVotes} votes`);
    expect(alone.quorate).toBe(true);
    expect(alone.totalVotes).toBe(2);
    expect(alone.expectedVotes).toBe(3);
    expect(alone.qdevice?.votes).toBe(1);
    await waitFor('node2 fenced by node1', 90_000, async () => /(reboot|off) node2 by node1/.test(c.fenceLog()), 500);
    console.log(`[qdevice] node2 fenced ${((Date.now() - t) / 1000).toFixed(1)} s after the kill`);
    // the fence agent logs its start: Pacemaker records the action once the agent has returned
    const mon = await waitFor('the fencing of node2 recorded as successful', 60_000, async () => {
      const out = (await c.on('node1', 'crm_mon', ['-1', '--fence-history=2'])).stdout;
      return /(reboot|off) of node2 by node1.* successful/.test(out) ? out : null;
    }, 500);
    expect(mon).toMatch(/Current DC: node1 .*partition with quorum/);
    expect(mon).toMatch(/OFFLINE: \[ node2 \]/);
    await waitFor('the fence device running on node1', 60_000, async () => /fence-pcharness\s+\(stonith:fence_pcharness\):\s+Started node1/.test((await c.on('node1', 'crm_mon', ['-1'])).stdout), 1000);
    // at no moment did node1 leave the primary component
    expect(corosyncLog('node1').slice(logFrom)).not.toMatch(QUORUM_LOST);
    expect((await quorum('node1')).quorate).toBe(true);
  }, 180_000);

  it('without the device\'s vote node1 alone is not quorate; with qnetd back it is again', async () => {
    await c.h.stopAgent('node3'); // else it restarts qnetd at once
    const pid = (await c.on('node3', 'sh', ['-c', 'cat /run/corosync-qnetd/corosync-qnetd.pid'])).stdout.trim();
    expect(pid).toMatch(/^\d+$/);
    const t = Date.now();
    await c.on('node3', 'kill', [pid]);
    const lost = await waitFor('node1 to lose quorum', 90_000, async () => { const q = await quorum('node1'); return q.running && !q.quorate ? q : null; }, 500);
    console.log(`[qdevice] qnetd stopped → node1 lost quorum after ${((Date.now() - t) / 1000).toFixed(1)} s (${lost.totalVotes} of ${lost.expectedVotes} votes)`);
    expect(lost.totalVotes).toBe(1);
    expect(lost.expectedVotes).toBe(3);
    const t2 = Date.now();
    c.h.startAgent('node3', { PERSONAL_CLOUD_SANDBOX: '1' });
    await waitFor('node1 quorate again', 120_000, async () => (await quorum('node1')).quorate, 500);
    console.log(`[qdevice] node3's agent restarted qnetd → node1 quorate again after ${((Date.now() - t2) / 1000).toFixed(1)} s`);
    expect(signatures()).toHaveLength(2); // the same CA: nothing signed again
  }, 240_000);

  it('node2 returns with its qdevice database cut short (as by a crash mid-exchange): it is made again; both quorate with 3 votes', async () => {
    // while node2 is off: its database keeps the CA but lost the member certificate, as after a
    // crash between the request (-r) and the import (-M)
    await c.on('node2', 'certutil', ['-D', '-d', '/etc/corosync/qdevice/net/nssdb', '-n', 'Cluster Cert']);
    const t = Date.now();
    await c.reboot('node2');
    await waitFor('node1 and node2 quorate with the device again', 240_000, formed, 1000);
    console.log(`[qdevice] node2 powered on → both quorate with the device after ${((Date.now() - t) / 1000).toFixed(1)} s`);
    await waitFor('node2 online in Pacemaker', 120_000, async () => /Online: \[ node1 node2 \]/.test((await c.on('node1', 'crm_mon', ['-1'], { allowFail: true })).stdout), 1000);
    // node2's certificate was made again; node1's complete one was never redone
    expect(signatures()).toEqual(['signed the quorum device certificate of node1', 'signed the quorum device certificate of node2', 'signed the quorum device certificate of node2']);
    expect((await qnetdClients()).map((x) => x.nodeId).sort()).toEqual([1, 2]);
    await sleep(2000);
    expect((await quorum('node2')).totalVotes).toBe(3);
  }, 300_000);
});
