// What a node receives, built every way a node can be installed: the installer payload of a
// per-node ISO, of the universal ISO and of a PXE initrd (unpacked and installed by late.sh's own
// files.list loop), the disk image's file list and `render` output. They must agree file by file
// and mode by mode, and none may carry a password hash or a secret of cluster.yaml except the
// files the OS needs for its shadow entries.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCpio } from '../src/assemble/cpio-read.js';
import { buildPayload } from '../src/build/media.js';
import { loadBuildContext, type BuildContext } from '../src/build/context.js';
import { diskIdentity } from '../src/disk/ids.js';
import { nodeDiskFiles } from '../src/disk/node-files.js';
import { pxePayload } from '../src/pxe/build-pxe.js';
import { nodeFiles } from '../src/render/node-files.js';
import { projectPath } from '../src/util/paths.js';
import { cli } from './helpers/cli.js';

const FIXTURE = projectPath('test/fixtures/config/valid/ha-ipmi-bridges.yaml');
const ROOT_HASH = '$y$j9T$PaQTcgdtgcpMIO5IMm6RK.$p6xSxPvwe8kqqFFMAPvz3h9q3S4T6zBKlBm7Xx5zbj0';
const BMC_PASSWORDS = ['bmc-pw-node1', 'bmc-pw-node2', 'bmc-pw-node3'];

/** Files the disk image has and the installer leaves to d-i (netcfg, grub-installer, …) or that only a copied image needs. */
const DISK_ONLY = [
  '/etc/hostname', '/etc/hosts', '/etc/network/interfaces', '/etc/systemd/network/10-personal-cloud-lan0.link',
  '/etc/apt/sources.list', '/etc/fstab', '/etc/default/grub.d/personal-cloud.cfg', '/etc/timezone', '/etc/default/locale',
  '/etc/default/keyboard', '/etc/locale.gen', '/etc/resolv.conf',
  '/etc/systemd/system/personal-cloud-ssh-hostkeys.service', '/etc/systemd/system/personal-cloud-grow-root.service',
  '/usr/lib/personal-cloud/grow-root',
];

/** The only files that may hold password hashes: what d-i's user-setup and late.sh's chpasswd -e read. */
const SHADOW_SOURCES = [/^preseed\.cfg$/, /^personal-cloud\/nodes\/[^/]+\/preseed\.cfg$/, /^personal-cloud\/users\/users\.list$/];

interface Tree { [path: string]: { content: Buffer; mode: number } }

let work: string;
let ctx: BuildContext;
let secrets: { secret: string; hashes: string[] };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pc-node-files-'));
  const config = join(work, 'cluster.yaml');
  await writeFile(config, `${readFileSync(FIXTURE, 'utf8')}root:\n  password_hash: "${ROOT_HASH}"\n`);
  ctx = await loadBuildContext({ config, who: 'test' });
  secrets = { secret: ctx.config.secret, hashes: [ROOT_HASH, ...ctx.plan.users.map((u) => u.passwordHash!)] };
  expect(ctx.plan.root.passwordHash).toBe(ROOT_HASH);
  expect(ctx.plan.ha?.fencing.kind).toBe('ipmi');
});
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

/** Every file of every archive of a (possibly multi-member) gzip'd cpio, as written under dir. */
async function unpack(gz: Buffer, dir: string): Promise<Tree> {
  const tree: Tree = {};
  for (const r of readCpio(gunzipSync(gz))) {
    if ((r.mode & 0o170000) !== 0o100000) continue;
    await mkdir(dirname(join(dir, r.name)), { recursive: true });
    await writeFile(join(dir, r.name), r.data, { mode: r.mode & 0o777 });
    tree[r.name] = { content: r.data, mode: r.mode & 0o7777 };
  }
  return tree;
}

async function walk(root: string, dir = root, out: Tree = {}): Promise<Tree> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(root, p, out);
    else out[`/${relative(root, p)}`] = { content: await readFile(p), mode: (await stat(p)).mode & 0o7777 };
  }
  return out;
}

/** Runs late.sh's own install_file and files.list loop on an unpacked payload; returns what it put in /target. */
async function installWithLateSh(payloadDir: string, node: string, target: string): Promise<Tree> {
  const late = readFileSync(projectPath('preseed/scripts/late.sh'), 'utf8');
  const fn = /^install_file\(\) \{[\s\S]*?^\}\n/m.exec(late)?.[0];
  const loop = /^while read -r mode from to; do[\s\S]*?^done < \$src\/nodes\/\$node\/files\.list\n/m.exec(late)?.[0];
  expect(fn && loop, 'late.sh installs the node files by files.list').toBeTruthy();
  await mkdir(target, { recursive: true });
  await execa('sh', ['-euc', `${fn}${loop}`], { env: { src: join(payloadDir, 'personal-cloud'), t: target, node } });
  return walk(target);
}

const asTree = (files: { path: string; content: string | Buffer; mode: number }[]): Tree =>
  Object.fromEntries(files.map((f) => [f.path, { content: Buffer.from(f.content), mode: f.mode }]));

const pick = (t: Tree, paths: string[]): Tree => Object.fromEntries(paths.filter((p) => t[p]).map((p) => [p, t[p]]));
const modes = (t: Tree) => Object.fromEntries(Object.entries(t).map(([p, f]) => [p, f.mode.toString(8)]));

function expectSame(actual: Tree, expected: Tree, what: string): void {
  expect(modes(actual), `${what}: paths and modes`).toEqual(modes(expected));
  for (const p of Object.keys(expected)) expect(actual[p].content.equals(expected[p].content), `${what}: content of ${p}`).toBe(true);
}

describe('what a node receives', () => {
  for (const name of ['node1', 'node3']) {
    it(`${name}: the installer (per-node ISO, universal ISO, PXE), the disk image and render install the same files`, async () => {
      const node = ctx.plan.nodes.find((n) => n.name === name)!;
      const want = asTree(nodeFiles(ctx, node));
      expect(Object.keys(want)).toEqual(expect.arrayContaining([
        '/usr/lib/personal-cloud/personal-cloud-agent.mjs', '/etc/systemd/system/personal-cloud-agent.service',
        '/etc/personal-cloud/cluster.json', '/etc/personal-cloud/node.json', '/etc/personal-cloud/join.key',
        '/etc/chrony/sources.d/personal-cloud.sources',
        '/usr/share/cockpit/personal-cloud/manifest.json', '/usr/share/cockpit/personal-cloud/index.html',
        '/usr/share/cockpit/personal-cloud/console.js', '/usr/share/cockpit/personal-cloud/console.css',
      ]));

      const payloads: [string, Buffer][] = [
        ['ISO', buildPayload(ctx, { kind: 'node', node: name })],
        ['universal ISO', buildPayload(ctx, { kind: 'universal' })],
        ['PXE', Buffer.concat(pxePayload(ctx, node))],
      ];
      for (const [kind, gz] of payloads) {
        const dir = join(work, `${name}-${kind.replace(/\W/g, '')}`);
        await unpack(gz, join(dir, 'payload'));
        expectSame(await installWithLateSh(join(dir, 'payload'), name, join(dir, 'target')), want, `${kind} installer`);
      }

      const disk = asTree(nodeDiskFiles({ ...ctx, node, ids: diskIdentity(ctx.plan.cluster.keyId, name) }));
      expect(Object.keys(disk).sort()).toEqual([...Object.keys(want), ...DISK_ONLY].sort());
      expectSame(pick(disk, Object.keys(want)), want, 'disk image');

      const out = join(work, `${name}-render`);
      const r = await cli(['render', '--config', ctx.configPath, '--node', name, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const rendered = await walk(out);
      expect(rendered['/preseed.cfg'].mode).toBe(0o600);
      delete rendered['/preseed.cfg'];
      expectSame(rendered, want, 'render');
    });
  }

  it('carries no password hash, cluster secret, BMC password or join key outside the files that need them; those are 0600', async () => {
    const sources: [string, Tree][] = [];
    sources.push(['ISO node1', await unpack(buildPayload(ctx, { kind: 'node', node: 'node1' }), join(work, 's-iso'))]);
    sources.push(['universal ISO', await unpack(buildPayload(ctx, { kind: 'universal' }), join(work, 's-universal'))]);
    for (const node of ctx.plan.nodes) sources.push([`PXE ${node.name}`, await unpack(Buffer.concat(pxePayload(ctx, node)), join(work, `s-pxe-${node.name}`))]);
    for (const node of ctx.plan.nodes) sources.push([`disk ${node.name}`, asTree(nodeDiskFiles({ ...ctx, node, ids: diskIdentity(ctx.plan.cluster.keyId, node.name) }))]);
    const out = join(work, 's-render');
    expect((await cli(['render', '--config', ctx.configPath, '--all', '--out', out])).code).toBe(0);
    sources.push(['render', await walk(out)]);

    const hashLike = [...secrets.hashes, '$6$', '$y$', 'passwordHash', 'password_hash'];
    let shadowSources = 0;
    for (const [what, tree] of sources) {
      for (const [path, f] of Object.entries(tree)) {
        const text = f.content.toString('latin1');
        const where = `${what}: ${path}`;
        expect(text.includes(secrets.secret), `${where} holds the cluster secret`).toBe(false);
        for (const pw of BMC_PASSWORDS) expect(text.includes(pw), `${where} holds a BMC password`).toBe(false);
        if (text.includes(ctx.joinKey)) {
          expect(path, `${where} holds the join key`).toMatch(/(^|\/)join\.key$/);
          expect(f.mode, `${where} mode`).toBe(0o600);
        }
        const isShadowSource = SHADOW_SOURCES.some((re) => re.test(path)) || (what === 'render' && /^\/node\d\/preseed\.cfg$/.test(path));
        if (isShadowSource) {
          shadowSources++;
          expect(f.mode, `${where} mode`).toBe(0o600);
          // they do hold the hashes (the OS needs them): this test would see one anywhere else
          expect(secrets.hashes.some((h) => text.includes(h)), `${where} holds the hashes`).toBe(true);
        } else {
          for (const h of hashLike) expect(text.includes(h), `${where} holds ${h}`).toBe(false);
        }
        if (/etc\/personal-cloud\//.test(path)) expect(f.mode, `${where} mode`).toBe(0o600);
      }
    }
    expect(shadowSources).toBeGreaterThan(5);
  });
});
