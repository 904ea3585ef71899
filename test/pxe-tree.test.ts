import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDnsmasqConf } from '../src/pxe/dnsmasq.js';
import { createPxeHttpServer } from '../src/pxe/http-server.js';
import type { InstallerSource } from '../src/installer/resolve.js';
import { cli } from './helpers/cli.js';
import { REPO_ROOT, SHARED_INSTALLER_CACHE, packageFile, sharedInstaller, sharedLoaders } from './helpers/installer-cache.js';
import { createPxeNet, type PxeNet } from './helpers/pxe-netns.js';
import {
  CLI_BIN, PXE_CONFIG, PXE_NETNS_CONFIG, buildPxeTree, extractMember, readText as read, waitForText, type PxeBuild,
} from './helpers/pxe-tree.js';

// The PXE tree as `build pxe` writes it from the real debian-installer-13-netboot-amd64 package,
// without booting anything: loaders, per-MAC entries, menus, the initrd payload, the manifest,
// dnsmasq --test, the "installed" flip, and `serve`'s refusal to start a second DHCP server in a
// network namespace. The QEMU network boots are in pxe.test.ts (long suite).

let work: string;
let installer: InstallerSource;
let tree: string;
let netnsTree: string;
let built: PxeBuild;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pc-pxe-tree-'));
  installer = await sharedInstaller('trixie');
  tree = join(work, 'tree');
  netnsTree = join(work, 'netns-tree');
  built = await buildPxeTree(PXE_CONFIG, tree);
  await buildPxeTree(PXE_NETNS_CONFIG, netnsTree);
}, 600_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('build pxe: the tree', () => {
  const macs = { node1: '01-52-54-00-12-34-11', node2: '01-52-54-00-12-34-12', node3: '01-52-54-00-12-34-13' };

  it('has per-MAC pxelinux, GRUB and iPXE entries that boot straight into that node\'s install', async () => {
    for (const [node, tag] of Object.entries(macs)) {
      const px = await read(tree, 'pxelinux.cfg', tag);
      expect(px).toMatch(/^DEFAULT install$/m);
      expect(px).toContain(`MENU TITLE personal-cloud: qemulab / ${node}`);
      expect(px).toContain('KERNEL debian-installer/amd64/linux');
      expect(px).toContain(`INITRD nodes/${node}/initrd.gz`);
      expect(px).toMatch(/APPEND auto=true priority=critical .*console=ttyS0,115200n8 --- quiet$/m);
      expect(px).toMatch(/LABEL local\n.*\n {2}LOCALBOOT 0/);
      const grub = await read(tree, 'debian-installer/amd64/grub', `grub.cfg-${tag}`);
      expect(grub).toMatch(/set default=0[\s\S]*?menuentry 'Install [^']+' --id install \{\n.*\n\s+linux\s+\/debian-installer\/amd64\/linux auto=true priority=critical/);
      expect(grub).toContain(`initrd  /nodes/${node}/initrd.gz`);
      expect(grub).toContain('pc.pxe-server=${net_default_server}');
      expect(grub).not.toContain('configfile');
      const ipxe = await read(tree, 'ipxe', `${tag}.ipxe`);
      expect(ipxe).toMatch(/^#!ipxe\n/);
      expect(ipxe).toContain(`initrd --name initrd.gz /nodes/${node}/initrd.gz`);
      expect(ipxe).toMatch(/choose --default install /);
    }
    expect(await read(tree, 'boot.ipxe')).toContain('chain --autofree /ipxe/01-${mac:hexhyp}.ipxe || chain --autofree /ipxe/default.ipxe');
  });

  it('gives unknown machines a menu whose default is the local disk', async () => {
    const px = await read(tree, 'pxelinux.cfg/default');
    expect(px).toMatch(/^DEFAULT local$/m);
    for (const n of ['node1', 'node2', 'node3']) expect(px).toContain(`MENU LABEL Install as ${n}`);
    const grub = await read(tree, 'debian-installer/amd64/grub/grub.cfg');
    expect(grub).toMatch(/set default=0\n[\s\S]*?\nmenuentry 'Boot from the local disk' --id local \{\n\s+exit\n\}/);
    expect(grub.indexOf('--id local')).toBeLessThan(grub.indexOf('--id node-node1'));
    // Debian's netboot GRUB does not look for grub.cfg-01-<mac> by itself: the menu hands over first.
    expect(grub).toContain('configfile "$prefix/grub.cfg-01-$m1-$m2-$m3-$m4-$m5-$m6"');
    expect(await read(tree, 'ipxe/default.ipxe')).toMatch(/choose --default local /);
  });

  it('an installed node\'s entries boot its disk by default and offer "reinstall" as an explicit choice', async () => {
    const px = await read(tree, 'nodes/node1/pxelinux-local.cfg');
    expect(px).toMatch(/^DEFAULT local$/m);
    expect(px).toMatch(/LABEL reinstall\n {2}MENU LABEL Reinstall node1 \(unattended, erases its OS disk\)\n {2}KERNEL debian-installer\/amd64\/linux\n {2}INITRD nodes\/node1\/initrd\.gz/);
    const grub = await read(tree, 'nodes/node1/grub-local.cfg');
    expect(grub).toMatch(/set default=0\n[\s\S]*?\nmenuentry 'Boot from the local disk' --id local \{\n\s+exit\n\}\n\nmenuentry 'Reinstall node1 [^']*' --id reinstall/);
    expect(await read(tree, 'nodes/node1/ipxe-local.cfg')).toMatch(/choose --default local [\s\S]*:reinstall\nkernel \/debian-installer\/amd64\/linux/);
  });

  it('ships pxelinux from trixie\'s pxelinux + syslinux-common and the signed shim + GRUB from the netboot package', async () => {
    const same = async (a: string, b: string) => expect((await readFile(a)).equals(await readFile(b))).toBe(true);
    await sharedLoaders('trixie', 'pxe');
    const fromPackage = async (file: string, pkg: string, path: string) => expect((await readFile(join(tree, file))).equals(await packageFile('trixie', pkg, path)), file).toBe(true);
    await fromPackage('pxelinux.0', 'pxelinux', 'usr/lib/PXELINUX/pxelinux.0');
    for (const m of ['ldlinux', 'libcom32', 'libutil', 'menu']) await fromPackage(`${m}.c32`, 'syslinux-common', `usr/lib/syslinux/modules/bios/${m}.c32`);
    // The same syslinux build the netboot package's own pxelinux uses (ldlinux must match pxelinux.0).
    await same(join(tree, 'pxelinux.0'), join(installer.dir, 'pxelinux.0'));
    await same(join(tree, 'ldlinux.c32'), join(installer.dir, 'boot-screens', 'ldlinux.c32'));
    for (const f of ['bootnetx64.efi', 'grubx64.efi', 'linux']) await same(join(tree, 'debian-installer/amd64', f), join(installer.dir, f));
    // GRUB fetches its config over TFTP from its prefix, /debian-installer/amd64/grub (see the strings of the binary).
    const grub = (await readFile(join(tree, 'debian-installer/amd64/grubx64.efi'))).toString('latin1');
    expect(grub).toContain('/debian-installer/amd64/grub');
    expect(grub).toContain('feature_net_search_cfg');
    const shim = await readFile(join(tree, 'debian-installer/amd64/bootnetx64.efi'));
    expect(shim.subarray(0, 2).toString()).toBe('MZ');
  });

  it('per-node initrd = installer initrd ‖ the image payload ‖ the installed-report files, in a 0700 folder', async () => {
    const initrd = join(tree, 'nodes/node2/initrd.gz');
    expect((await stat(join(tree, 'nodes'))).mode & 0o777).toBe(0o700);
    const base = await readFile(installer.initrd);
    const ours = await readFile(initrd);
    expect(ours.subarray(0, base.length).equals(base)).toBe(true);
    const payload = await extractMember(initrd, 1, join(work, 'x-node2-payload'));
    expect(payload).toMatch(/^preseed\.cfg$/m);
    expect(payload).toMatch(/^personal-cloud\/root\/etc\/personal-cloud\/join\.key$/m);
    expect(payload).toMatch(/^personal-cloud\/nodes\/node2\/files\.list$/m);
    expect(await read(work, 'x-node2-payload', 'preseed.cfg')).toMatch(/netcfg\/get_hostname string node2/);
    const report = await extractMember(initrd, 2, join(work, 'x-node2-report'));
    expect(report).toMatch(/^personal-cloud\/pxe\/token$/m);
    expect((await stat(join(work, 'x-node2-report/personal-cloud/pxe/token'))).mode & 0o777).toBe(0o600);
    expect(await read(work, 'x-node2-report/personal-cloud/pxe/mac')).toBe('52:54:00:12:34:12\n');
  });

  it('manifest: every input (installer package, trixie\'s pxelinux + syslinux-common packages) and output; the summary counts initrds and boot files', async () => {
    const manifest = JSON.parse(await read(built.manifest)) as { inputs: { name: string; sha256: string; version?: string }[]; outputs: { file: string; target: string }[] };
    const inputs = new Map(manifest.inputs.map((i) => [i.name, i.sha256]));
    const loaders = await sharedLoaders('trixie', 'pxe');
    expect(loaders.inputs.map((i) => i.name.split('_')[0])).toEqual(['pxelinux', 'syslinux-common']);
    expect(manifest.inputs).toEqual(expect.arrayContaining(loaders.inputs));
    for (const i of loaders.inputs) expect(i.version).toMatch(/^3:6\.04/);
    // Nothing from the build machine, and the ISO's loaders are not in a PXE tree, so they are not its inputs.
    expect([...inputs.keys()].some((n) => n.startsWith('/usr/lib/'))).toBe(false);
    expect([...inputs.keys()].some((n) => /isolinux|shim|grub/.test(n))).toBe(false);
    expect([...inputs.keys()].some((n) => /debian-installer-13-netboot-amd64/.test(n))).toBe(true);
    const initrds = manifest.outputs.filter((o) => o.file.endsWith('/initrd.gz'));
    expect(initrds.map((o) => o.target).sort()).toEqual(['node1', 'node2', 'node3']);
    expect(built.stderr).toContain(`PXE tree: 3 node initrds and ${manifest.outputs.length - 3} boot files (loaders, kernel, menus, dnsmasq.conf) in ${tree}`);
    expect(built.stderr).toMatch(/3 per-MAC entries \(node1 01-52-54-00-12-34-11, node2 01-52-54-00-12-34-12, node3 01-52-54-00-12-34-13\)/);
  });

  it('writes SHA256SUMS that check, and the same epoch gives the same bytes', async () => {
    await execa('sha256sum', ['--quiet', '-c', 'SHA256SUMS'], { cwd: tree });
    const again = join(work, 'tree-again');
    await buildPxeTree(PXE_CONFIG, again);
    // dnsmasq.conf names the tree's own folder as tftp-root; every other file is byte-identical.
    const sums = async (d: string) => (await read(d, 'SHA256SUMS')).split('\n').filter((l) => !l.endsWith('dnsmasq.conf'));
    expect(await sums(again)).toEqual(await sums(tree));
    const state = JSON.parse(await read(tree, 'pxe-state.json'));
    expect(Object.keys(state.nodes)).toEqual(['node1', 'node2', 'node3']);
    expect((await stat(join(tree, 'pxe-state.json'))).mode & 0o777).toBe(0o600);
    expect(await read(tree, 'pxe-state.json')).not.toMatch(/pcs1_/);
  }, 300_000);

  it('dnsmasq --test accepts the tree\'s configuration (proxy-DHCP) and the full-DHCP one', async () => {
    const proxy = await read(tree, 'dnsmasq.conf');
    expect(proxy).toMatch(/^dhcp-range=10\.0\.2\.0,proxy,255\.255\.255\.0$/m);
    expect(proxy).toMatch(/^dhcp-match=set:efi64,option:client-arch,7$/m);
    expect(proxy).toMatch(/^pxe-service=tag:!ipxe,X86-64_EFI,.*debian-installer\/amd64\/bootnetx64\.efi$/m);
    expect(proxy).toMatch(/^pxe-service=tag:!ipxe,x86PC,.*,pxelinux$/m);
    await execa('dnsmasq', ['--test', `--conf-file=${join(tree, 'dnsmasq.conf')}`]);
    const full = join(work, 'full.conf');
    await writeFile(full, renderDnsmasqConf({ tftpRoot: tree, mode: 'full', network: '10.78.0.0', prefix: 24, interface: 'br0', range: { start: '10.78.0.100', end: '10.78.0.150' }, hosts: [{ mac: '52:54:00:78:00:11', address: '10.78.0.11', name: 'pxe1' }], gateway: '10.78.0.1', dns: ['10.78.0.1'] }));
    expect(await read(full)).toMatch(/^dhcp-boot=tag:efi64,tag:!ipxe,debian-installer\/amd64\/bootnetx64\.efi$/m);
    await execa('dnsmasq', ['--test', `--conf-file=${full}`]);
  });

  it('refuses --node for a node without a MAC, with a clear message', async () => {
    const cfg = join(work, 'nomac.yaml');
    await writeFile(cfg, (await read(PXE_CONFIG)).replace('    mac: "52:54:00:12:34:13"\n', ''));
    const r = await cli(['build', 'pxe', '--config', cfg, '--out', join(work, 'nomac'), '--cache', SHARED_INSTALLER_CACHE, '--offline', '--node', 'node3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/node 'node3' has no mac in cluster\.yaml/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('installed → local boot', () => {
  const tag = '01-52-54-00-78-00-12';
  const active = () => read(netnsTree, 'pxelinux.cfg', tag);

  it('the node\'s own report (token from its initrd) flips its entries; wrong tokens and strangers cannot', async () => {
    const lines: string[] = [];
    const server = createPxeHttpServer(netnsTree, { log: (l) => lines.push(l) });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;
    try {
      const url = (p: string) => `http://127.0.0.1:${port}${p}`;
      expect((await fetch(url('/installed/52:54:00:78:00:12?token=00'))).status).toBe(403);
      expect((await fetch(url('/installed/52:54:00:78:00:99?token=00'))).status).toBe(404);
      expect((await fetch(url('/pxe-state.json'))).status).toBe(404);
      expect((await fetch(url('/../../etc/passwd'))).status).toBe(404);
      expect(await (await fetch(url('/boot.ipxe'))).text()).toMatch(/^#!ipxe/);
      expect(await active()).toMatch(/^DEFAULT install$/m);

      // The report script the installer runs, with the files the node's initrd carries.
      const dir = join(work, 'x-pxe2');
      await extractMember(join(netnsTree, 'nodes/pxe2/initrd.gz'), 2, dir);
      const cmdline = join(work, 'cmdline-pxe2');
      const grubLinux = /linux\s+\S+ (.*)/.exec(await read(netnsTree, 'nodes/pxe2/grub-install.cfg'))![1];
      await writeFile(cmdline, `BOOT_IMAGE=/debian-installer/amd64/linux ${grubLinux.replace('${net_default_server}', '127.0.0.1').replace(/pc\.pxe-port=\d+/, `pc.pxe-port=${port}`)}\n`);
      const consoleOut = join(work, 'report-console');
      await execa('sh', [join(REPO_ROOT, 'preseed/scripts/report-installed.sh')], { env: { PC_PXE_DIR: join(dir, 'personal-cloud/pxe'), PC_CMDLINE: cmdline, PC_CONSOLE: consoleOut } });
      expect(await read(consoleOut)).toMatch(/told the PXE server 127\.0\.0\.1:\d+ that 52:54:00:78:00:12 is installed/);
      expect(lines.join('\n')).toMatch(/pxe2 52:54:00:78:00:12 reported installed: its network boot now goes to the local disk/);
      expect(lines.join('\n')).not.toMatch(/token=[0-9a-f]{8}/);
      expect(await active()).toMatch(/^DEFAULT local$/m);
      expect(await read(netnsTree, 'debian-installer/amd64/grub', `grub.cfg-${tag}`)).toBe(await read(netnsTree, 'nodes/pxe2/grub-local.cfg'));
      expect(await read(netnsTree, 'ipxe', `${tag}.ipxe`)).toBe(await read(netnsTree, 'nodes/pxe2/ipxe-local.cfg'));
      expect(JSON.parse(await read(netnsTree, 'pxe-state.json')).nodes.pxe2.installed).toBe(true);
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it('a rebuild keeps the installed node on local boot; serve --reinstall flips it back, --installed forward', async () => {
    await buildPxeTree(PXE_NETNS_CONFIG, netnsTree);
    expect(await active()).toMatch(/^DEFAULT local$/m);
    const r = await cli(['serve', '--out', netnsTree, '--reinstall', 'pxe2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pxe2 \(52:54:00:78:00:12\): next network boot reinstalls it/);
    expect(await active()).toBe(await read(netnsTree, 'nodes/pxe2/pxelinux-install.cfg'));
    expect(JSON.parse(await read(netnsTree, 'pxe-state.json')).nodes.pxe2.installed).toBe(false);
    const byMac = await cli(['serve', '--out', netnsTree, '--installed', '52:54:00:78:00:12']);
    expect(byMac.code).toBe(0);
    expect(byMac.stdout).toMatch(/pxe2 \(52:54:00:78:00:12\): next network boot goes to the local disk/);
    expect(await active()).toBe(await read(netnsTree, 'nodes/pxe2/pxelinux-local.cfg'));
    expect((await cli(['serve', '--out', netnsTree, '--reinstall', 'pxe2'])).code).toBe(0);
    const bad = await cli(['serve', '--out', netnsTree, '--reinstall', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no node 'nope'/);
  }, 300_000);
});

describe('serve next to a DHCP server that is already there (network namespaces)', () => {
  it('refuses full DHCP on that interface; --force-dhcp starts anyway with a warning; proxy needs no force; Ctrl-C stops cleanly', async () => {
    let net: PxeNet | undefined;
    let other: ResultPromise | undefined;
    let serve: ResultPromise | undefined;
    try {
      net = await createPxeNet();
      // The network's own DHCP server: plain dnsmasq on the other host, no boot options.
      other = execa('ip', ['netns', 'exec', net.other, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--interface=voth',
        '--dhcp-range=10.78.0.100,10.78.0.150,1h', `--dhcp-leasefile=${join(work, 'other.leases')}`, `--pid-file=${join(work, 'other.pid')}`, '--log-facility=-'], { reject: false, all: true });
      let otherLog = '';
      other.all!.on('data', (d: Buffer) => { otherLog += d.toString(); });
      await waitForText(() => otherLog, /DHCP, IP range 10\.78\.0\.100/, 20_000, 'the other DHCP server');

      const serveIn = (args: string[]) => execa('ip', ['netns', 'exec', net!.server, 'node', CLI_BIN, 'serve', '--out', netnsTree, '--interface', 'br0', ...args], { reject: false, all: true });
      const refused = await serveIn(['--dhcp', 'full']);
      expect(refused.exitCode).toBe(6);
      expect(refused.stderr).toMatch(/a DHCP server \(10\.78\.0\.2\) already answers on br0 \(it offered 10\.78\.0\.1\d\d\)/);
      expect(refused.stderr).toMatch(/--dhcp proxy/);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      // It stopped before starting anything.
      expect(String(refused.stdout)).not.toMatch(/serve: DHCP/);
      expect(String((await execa('ip', ['netns', 'pids', net.server])).stdout).trim()).toBe('');

      for (const args of [['--dhcp', 'full', '--force-dhcp'], ['--dhcp', 'proxy']]) {
        serve = serveIn(args);
        let log = '';
        serve.all!.on('data', (d: Buffer) => { log += d.toString(); });
        const forced = args.includes('--force-dhcp');
        await waitForText(() => log, forced ? /serve: DHCP \+ TFTP on br0 \(10\.78\.0\.0\/24\)/ : /serve: proxy-DHCP \+ TFTP on br0 \(10\.78\.0\.0\/24\)/, 30_000, `serve ${args.join(' ')}`);
        await waitForText(() => log, forced ? /DHCP, static leases only on 10\.78\.0\.0|DHCP, IP range/ : /DHCP, proxy on subnet 10\.78\.0\.0/, 30_000, `serve ${args.join(' ')}`);
        await waitForText(() => log, /TFTP root is /, 10_000, `serve ${args.join(' ')}`);
        if (forced) expect(log).toMatch(/warning: another DHCP server \(10\.78\.0\.2\) answers on br0; --force-dhcp given/);
        else expect(log).not.toMatch(/warning: another DHCP server/);
        if (!forced) {
          // TFTP and HTTP serve the tree to the network (here: the other host) and serve says who fetched what;
          // the state file (0600: token hashes) is served by neither.
          const fetch = (url: string) => execa('ip', ['netns', 'exec', net!.other, 'curl', '-sf', '--max-time', '20', url], { reject: false, encoding: 'buffer', stripFinalNewline: false });
          const viaTftp = await fetch('tftp://10.78.0.1/boot.ipxe');
          expect(viaTftp.exitCode, `${String(viaTftp.stderr)}\n${log}`).toBe(0);
          expect(Buffer.from(viaTftp.stdout).toString('latin1')).toBe(await read(netnsTree, 'boot.ipxe'));
          await waitForText(() => log, /serve: 10\.78\.0\.2 fetched boot\.ipxe/, 10_000, 'serve');
          expect(Buffer.from((await fetch('http://10.78.0.1:8470/pxelinux.0')).stdout).equals(await readFile(join(netnsTree, 'pxelinux.0')))).toBe(true);
          await waitForText(() => log, /serve: 10\.78\.0\.2 fetched pxelinux\.0 over HTTP/, 10_000, 'serve');
          expect((await fetch('tftp://10.78.0.1/pxe-state.json')).exitCode).not.toBe(0);
          expect((await fetch('http://10.78.0.1:8470/pxe-state.json')).exitCode).not.toBe(0);
        }
        serve.kill('SIGINT');
        const r = await serve;
        serve = undefined;
        expect(r.exitCode).toBe(0);
        expect(log).toMatch(/serve: stopped/);
        expect(String((await execa('ip', ['netns', 'pids', net.server])).stdout).trim()).toBe('');
      }
    } finally {
      if (serve) { serve.kill('SIGKILL'); await serve; }
      if (other) { other.kill('SIGTERM'); await other; }
      await net?.teardown();
    }
  }, 120_000);
});
