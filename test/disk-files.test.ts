// The pure parts of the disk builder (what goes into a node's image, ids, options) and of the
// e2e health check — fast, no root needed.
import { describe, expect, it } from 'vitest';
import { plan as makePlan } from '../src/plan/plan.js';
import { diskIdentity, derivedUuid } from '../src/disk/ids.js';
import { DISABLED_UNITS, ENABLED_UNITS, nodeDiskFiles } from '../src/disk/node-files.js';
import { readFileSync } from 'node:fs';
import { projectPath } from '../src/util/paths.js';
import { parseImageSize } from '../src/disk/build-disks.js';
import { requireRoot } from '../src/disk/host.js';
import { rootfsKey, rootfsPackages } from '../src/disk/rootfs.js';
import { INSTALLED_KERNEL_OPTS } from '../src/render/preseed.js';
import { systemFiles } from '../src/render/system-files.js';
import { SHARED_ROOT, payloadEntries } from '../src/assemble/payload.js';
import { agentPlan } from '../core/agent-plan.js';
import { healthProblems, stepTimesFromJournal } from './e2e/health.js';
import { cli } from './helpers/cli.js';
import { sampleConfig, sampleNode } from './helpers/sample-config.js';
import type { NodeAnswer } from '../src/commands/status.js';

const agent = { script: Buffer.from('// agent\n'), unit: Buffer.from('[Unit]\n'), console: [{ name: 'index.html', content: Buffer.from('<!DOCTYPE html>\n') }] };

function files(over = {}) {
  const p = makePlan(sampleConfig(over));
  const node = p.nodes[0];
  const list = nodeDiskFiles({ plan: p, node, joinKey: 'k'.repeat(64), agent, ids: diskIdentity(p.cluster.keyId, node.name) });
  return { p, node, get: (path: string) => list.find((f) => f.path === path), list };
}

describe('node disk files', () => {
  it('static node: interfaces on lan0, MAC-matched link, resolv.conf, hosts, fstab by UUID, serial console', () => {
    const { node, get, p } = files();
    expect(get('/etc/network/interfaces')!.content).toContain('auto lan0\niface lan0 inet static\n\taddress 10.0.2.15/24\n\tgateway 10.0.2.2\n\tdns-nameservers 10.0.2.3\n');
    expect(get('/etc/systemd/network/10-personal-cloud-lan0.link')!.content).toContain(`MACAddress=${node.mac}`);
    expect(get('/etc/resolv.conf')!.content).toBe('search lab.example.org\nnameserver 10.0.2.3\n');
    expect(get('/etc/hosts')!.content).toContain(`10.0.2.15\t${node.fqdn}\tnode1`);
    expect(get('/etc/fstab')!.content).toContain(`UUID=${diskIdentity(p.cluster.keyId, 'node1').rootUuid} / ext4`);
    expect(get('/etc/default/grub.d/personal-cloud.cfg')!.content).toContain(`GRUB_CMDLINE_LINUX="${INSTALLED_KERNEL_OPTS}"`);
    expect(get('/etc/default/keyboard')!.content).toContain(`XKBLAYOUT="${p.cluster.keyboard}"`);
    expect(get('/etc/apt/sources.list')!.content).toBe('deb http://deb.debian.org/debian trixie main\ndeb http://deb.debian.org/debian trixie-updates main\ndeb http://deb.debian.org/debian-security trixie-security main\n');
  });

  it('DHCP node without MAC: dhcp stanza, first PCI NIC, no build-host resolv.conf', () => {
    const { get } = files({ nodes: [1, 2, 3].map((i) => sampleNode(i, { network: { dhcp: true }, mac: undefined })) });
    expect(get('/etc/network/interfaces')!.content).toContain('auto lan0\niface lan0 inet dhcp\n');
    expect(get('/etc/systemd/network/10-personal-cloud-lan0.link')!.content).toContain('Path=pci-*');
    expect(get('/etc/resolv.conf')!.content).toBe('');
    expect(get('/etc/hosts')!.content).toContain('127.0.1.1\tnode1.lab.example.org\tnode1');
  });

  it('agent files: join.key and cluster.json 0600, cluster.json the agent part of the plan (no users)', () => {
    const { get, p } = files();
    expect(get('/etc/personal-cloud/join.key')).toMatchObject({ mode: 0o600, content: `${'k'.repeat(64)}\n` });
    expect(get('/etc/personal-cloud/cluster.json')!.mode).toBe(0o600);
    const written = JSON.parse(String(get('/etc/personal-cloud/cluster.json')!.content));
    expect(written).toEqual(JSON.parse(JSON.stringify(agentPlan(p))));
    expect(Object.keys(written).sort()).toEqual(['cluster', 'ha', 'nodes', 'schemaVersion', 'volumes']);
    expect(Object.keys(written.cluster).sort()).toEqual(['domain', 'keyId', 'name', 'release']);
    expect(written.nodes[0]).not.toHaveProperty('mac');
    expect(written.nodes[0]).not.toHaveProperty('osDisk');
    expect(get('/usr/lib/personal-cloud/personal-cloud-agent.mjs')!.content).toBe(agent.script);
    expect(ENABLED_UNITS).toContain('personal-cloud-agent.service');
    expect(ENABLED_UNITS).toContain('serial-getty@ttyS0.service');
  });

  it('chrony gets the cluster NTP servers in the image and in the installer payload alike', () => {
    const { get, p } = files({ ntp: ['10.0.2.2', '0.debian.pool.ntp.org'] });
    const want = systemFiles(p).find((f) => f.path === '/etc/chrony/sources.d/personal-cloud.sources')!;
    expect(want.content).toContain('server 10.0.2.2 iburst\npool 0.debian.pool.ntp.org iburst\n');
    expect(get(want.path)).toEqual(want);
    const payload = payloadEntries({ plan: p, nodes: ['node1'], joinKey: 'k'.repeat(64), agent });
    expect(payload.find((e) => e.path === `${SHARED_ROOT}${want.path}`)).toMatchObject({ content: want.content, mode: 0o644 });
    expect(p.packages).toContain('unattended-upgrades');
  });

  it('a node whose kernel panics or oopses reboots by itself (sysctl), in the image and in the installer payload', () => {
    const { get, p } = files({});
    const want = systemFiles(p).find((f) => f.path === '/etc/sysctl.d/60-personal-cloud.conf')!;
    expect(want.content).toMatch(/^kernel\.panic = 10$/m);
    expect(want.content).toMatch(/^kernel\.panic_on_oops = 1$/m);
    expect(get(want.path)).toEqual(want);
    const payload = payloadEntries({ plan: p, nodes: ['node1'], joinKey: 'k'.repeat(64), agent });
    expect(payload.find((e) => e.path === `${SHARED_ROOT}${want.path}`)).toMatchObject({ content: want.content, mode: 0o644 });
  });

  it('the image and late.sh disable the same package units (the agent starts them)', () => {
    const late = readFileSync(projectPath('preseed/scripts/late.sh'), 'utf8');
    for (const u of DISABLED_UNITS) expect(late).toMatch(new RegExp(`systemctl disable [^\\n]*${u.replace('.', '\\.')}`));
    expect(DISABLED_UNITS).toEqual(expect.arrayContaining(['corosync.service', 'pacemaker.service']));
  });

  it('no file holds the raw secret', () => {
    const { list } = files();
    const cfg = sampleConfig();
    for (const f of list) expect(String(f.content)).not.toContain(cfg.secret);
  });
});

describe('disk ids, package list, options', () => {
  it('derives stable, distinct ids per node and cluster', () => {
    expect(diskIdentity('abc', 'node1')).toEqual(diskIdentity('abc', 'node1'));
    expect(diskIdentity('abc', 'node1').rootUuid).not.toBe(diskIdentity('abc', 'node2').rootUuid);
    expect(diskIdentity('abd', 'node1').rootUuid).not.toBe(diskIdentity('abc', 'node1').rootUuid);
    expect(derivedUuid('x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(diskIdentity('abc', 'node1').espVolumeId).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
  });

  it('the base tree holds plan.packages (the preseed list) plus the kernel and boot loaders; its cache key follows them', () => {
    const p = makePlan(sampleConfig());
    expect(rootfsPackages(p)).toEqual(expect.arrayContaining([...p.packages, 'linux-image-amd64', 'grub-efi-amd64', 'grub-pc-bin']));
    const withTang = makePlan(sampleConfig({ encryption: { peers: true, tang: [], tpm2: false, threshold: 1 } }));
    expect(rootfsKey(withTang)).not.toBe(rootfsKey(p));
    // users, addresses, names are per node, on top of the cached tree
    expect(rootfsKey(makePlan(sampleConfig({ name: 'other', users: [] })))).toBe(rootfsKey(p));
    expect(rootfsKey(makePlan(sampleConfig({ release: 'bookworm' })))).not.toBe(rootfsKey(p));
  });

  it('parses sizes and refuses too small ones', () => {
    expect(parseImageSize('8G')).toBe(8 * 2 ** 30);
    expect(parseImageSize('12GiB')).toBe(12 * 2 ** 30);
    expect(parseImageSize('6144M')).toBe(6 * 2 ** 30);
    expect(() => parseImageSize('2G')).toThrow(/too small/);
    expect(() => parseImageSize('eight')).toThrow(/--size must look like 8G/);
  });

  it('says clearly that it needs root', () => {
    expect(() => requireRoot('build disk', 1000)).toThrow(/build disk needs root/);
    expect(() => requireRoot('build disk', 0)).not.toThrow();
  });

  it('CLI: usage errors for disk-only and ISO-only options', async () => {
    const cfg = 'test/fixtures/e2e/cluster.yaml';
    const a = await cli(['build', 'disk', '--config', cfg, '--universal']);
    expect([a.code, a.stderr]).toEqual([2, expect.stringMatching(/--universal apply to installer images only/)]);
    const b = await cli(['build', 'disk', '--config', cfg, '--format', 'vmdk']);
    expect([b.code, b.stderr]).toEqual([2, expect.stringMatching(/--format must be raw or qcow2/)]);
    const c = await cli(['build', 'iso', '--config', cfg, '--size', '8G']);
    expect([c.code, c.stderr]).toEqual([2, expect.stringMatching(/apply to `build disk` only/)]);
    const d = await cli(['build', 'disk', '--config', cfg, '--node', 'node9']);
    expect([d.code, d.stderr]).toEqual([2, expect.stringMatching(/no node named 'node9'.*node1, node2, node3/)]);
    const h = await cli(['build', '--help']);
    expect(h.stdout).toMatch(/build disk: preinstalled node disks/);
  });
});

describe('e2e health check', () => {
  const status = (node: string, over: object = {}) => ({
    node, ok: true, address: '10.79.0.1',
    status: {
      node, converged: true, steps: [{ name: 'volumes', state: 'done', detail: '', at: '' }],
      volumes: [{ name: 'gv0', exists: true, started: true, mounted: true, bricks: ['node1:/b', 'node2:/b', 'node3:/b'] }],
      ...over,
    },
  }) as unknown as NodeAnswer;
  const nodes = ['node1', 'node2', 'node3'];

  it('healthy only with every node converged, gv0 started with a brick per node and mounted', () => {
    expect(healthProblems(nodes.map((n) => status(n)), nodes)).toEqual([]);
    expect(healthProblems([status('node1'), status('node2')], nodes)).toEqual(['node3: no answer']);
    expect(healthProblems([...nodes.slice(0, 2).map((n) => status(n)), status('node3', { converged: false, steps: [{ name: 'peers', state: 'waiting', detail: 'node1', at: '' }] })], nodes))
      .toEqual(['node3: converging [peers=waiting (node1)]']);
    const twoBricks = [{ name: 'gv0', exists: true, started: true, mounted: true, bricks: ['node1:/b', 'node2:/b'] }];
    expect(healthProblems(nodes.map((n) => status(n, { volumes: twoBricks })), nodes)[0]).toMatch(/no brick on node3/);
  });

  it('storage health may ignore a pending step (ha), never a pending storage step', () => {
    const haPending = { converged: false, steps: [{ name: 'volumes', state: 'done', detail: '', at: '' }, { name: 'ha', state: 'error', detail: 'cibadmin', at: '' }] };
    expect(healthProblems(nodes.map((n) => status(n, haPending)), nodes)).toEqual(nodes.map((n) => `${n}: converging [ha=error (cibadmin)]`));
    expect(healthProblems(nodes.map((n) => status(n, haPending)), nodes, 'gv0', ['ha'])).toEqual([]);
    const mountsPending = { converged: false, steps: [{ name: 'mounts', state: 'waiting', detail: 'gv0', at: '' }, { name: 'ha', state: 'pending', detail: '', at: '' }] };
    expect(healthProblems([status('node1', mountsPending), status('node2'), status('node3')], nodes, 'gv0', ['ha'])).toEqual(['node1: converging [mounts=waiting (gv0)]']);
  });

  it('reads step times from the agent journal', () => {
    const j = [
      '1000.5 node1 personal-cloud-agent[10]: personal-cloud-agent: node node1 of cluster e2elab (3 nodes, key id x)',
      '1003.0 node1 personal-cloud-agent[10]: step hosts: done',
      '1010.0 node1 personal-cloud-agent[10]: step volumes: waiting — for peers',
      '1020.0 node1 personal-cloud-agent[11]: personal-cloud-agent: node node1 of cluster e2elab (3 nodes, key id x)',
      '1030.0 node1 personal-cloud-agent[11]: step volumes: done',
      '1040.0 node1 personal-cloud-agent[11]: step hosts: done',
    ].join('\n');
    expect(stepTimesFromJournal(j, 1000)).toEqual({ agentStart: 0.5, stepDone: { hosts: 3, volumes: 30 }, restarts: 1 });
  });
});
