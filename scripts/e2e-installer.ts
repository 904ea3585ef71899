// The installer path end to end (`make e2e-installer MIRROR=http://…/debian`): builds the
// per-node ISOs of the e2e cluster, boots three QEMU VMs (TCG) from them with the same disks as
// the disk-image run (OS disk `pc-os`, brick disk `pc-gv0`), lets the Debian installer run
// unattended, then boots the installed disks on the private network and waits until the
// cluster is healthy (same checks as scripts/e2e.ts).
//
// During the install each VM uses QEMU user networking (its static address, gateway 10.79.0.1,
// DNS 10.79.0.3 are what QEMU's user network provides) to reach the mirror; afterwards the
// installed nodes run on a private bridge that reaches nothing else.
//
// On a machine whose mirror serves no .udeb files (this sandbox) the installer stops at
// "Download installer components" (a 404, or here net-retriever's "Bad signature on …Release"):
// the run then reports how far each node got unattended and exits 3 (not a pass: the full
// install needs a normal Debian mirror).
// Options: --help.
import { execa } from 'execa';
import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { scriptArgs } from './args.js';
import { bootDiskVm, type DiskVm } from '../test/helpers/qemu-disk.js';
import { createPrivateNet, type PrivateNet } from '../test/e2e/netns.js';
import { stopOnInterrupt } from '../test/e2e/interrupt.js';
import { E2E_NODES, runtimeConfig, waitHealthy } from '../test/e2e/cluster.js';

const ROOT = resolve('.');
const CLI = join(ROOT, 'bin/personal-cloud.js');
const { values: opt } = scriptArgs(`Usage: make e2e-installer MIRROR=URL   (node scripts/run-ts.mjs scripts/e2e-installer.ts [options])
  --mirror URL        a Debian mirror that serves the installer's .udeb files
  --work DIR          keep the run's files in DIR
  --keep              keep the work dir after a pass too
  --timeout-min N     limit for the installs and the cluster to become healthy (default 90)`, {
  mirror: { type: 'string' }, keep: { type: 'boolean' }, work: { type: 'string' }, 'timeout-min': { type: 'string' },
});
const TIMEOUT_MS = Number(opt['timeout-min'] ?? 90) * 60_000;
const t0 = Date.now();
const say = (m: string) => process.stdout.write(`[e2e-installer +${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`);

type Outcome = { node: string; result: 'installed' | 'stopped-at-mirror' | 'failed'; seconds: number; detail: string };

async function install(vm: DiskVm, node: string, address: string): Promise<Outcome> {
  const start = Date.now();
  const secs = () => (Date.now() - start) / 1000;
  try {
    await vm.waitFor(new RegExp(`personal-cloud: preseed for ${node} loaded`), 10 * 60_000);
    await vm.waitFor(new RegExp(`ip addr add ${address.replace(/\./g, '\\.')}/24`), 5 * 60_000, 'syslog');
    await vm.waitFor(/Menu item 'download-installer' selected/, 10 * 60_000, 'syslog');
    say(`${node}: unattended up to "Download installer components" after ${secs().toFixed(0)} s`);
    // Either the install runs through (QEMU exits at the final reboot: -no-reboot) or the udebs are missing.
    // This sandbox's archive snapshot: .udeb downloads 404, or net-retriever rejects the snapshot's
    // Release signature (its keyring is the installer's, the snapshot's InRelease is newer).
    const stop = /(404 Not Found|Failed to load installer component|failed to retrieve|Retrieving .*\.udeb failed|Bad signature on \S*Release)/i;
    for (;;) {
      if (vm.exited) {
        const code = await vm.done;
        return { node, result: code === 0 ? 'installed' : 'failed', seconds: secs(), detail: `QEMU exit ${code}` };
      }
      const m = vm.read('syslog').match(stop);
      if (m) return { node, result: 'stopped-at-mirror', seconds: secs(), detail: m[0] };
      if (Date.now() - start > TIMEOUT_MS) return { node, result: 'failed', seconds: secs(), detail: 'timeout' };
      await new Promise((r) => setTimeout(r, 5000));
    }
  } catch (e) {
    return { node, result: 'failed', seconds: secs(), detail: (e as Error).message.slice(0, 500) };
  }
}

async function main(): Promise<number> {
  const work = opt.work ? resolve(opt.work) : await mkdtemp('/var/tmp/pc-e2e-installer-');
  await mkdir(work, { recursive: true });
  say(`work dir ${work}`);
  const vms: DiskVm[] = [];
  let net: PrivateNet | undefined;
  let code = 1;
  let builder: ReturnType<typeof execa> | undefined;
  stopOnInterrupt(() => ({ builder, vms, net }), say);
  try {
    const { config } = await runtimeConfig(join(ROOT, 'test/fixtures/e2e/cluster.yaml'), work, (doc) => {
      doc.setIn(['network', 'gateway'], '10.79.0.1');
      doc.setIn(['network', 'dns'], doc.createNode(['10.79.0.3']));
      if (opt.mirror) doc.setIn(['mirror', 'url'], opt.mirror);
    });
    // The ISOs carry dist/personal-cloud-agent.mjs: bundle this checkout's agent and CLI first.
    await execa('node', [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    say('building the installer ISOs (serial console, installer syslog on the 2nd serial port)');
    builder = execa('node', [CLI, 'build', '--config', config, '--out', join(work, 'iso'), '--console', 'serial', '--serial-log', '--json',
      ...E2E_NODES.flatMap((n) => ['--node', n.name])], { reject: false, stderr: 'inherit' });
    const b = await builder;
    builder = undefined;
    if (b.exitCode !== 0) throw new Error(`build failed (exit ${b.exitCode})`);
    const isos = (JSON.parse(String(b.stdout)) as { outputs: { file: string; target: string }[] }).outputs;

    for (const n of E2E_NODES) {
      vms.push(await bootDiskVm({
        name: n.name, workDir: work, firmware: n.firmware, mac: n.mac, cdrom: isos.find((o) => o.target === n.name)!.file, noReboot: true,
        osSerial: 'pc-os', osSizeGiB: 20, disks: [{ serial: 'pc-gv0', sizeGiB: 20 }], memoryMiB: 1536,
        userNet: 'net=10.79.0.0/24,host=10.79.0.1,dns=10.79.0.3',
      }));
    }
    say('3 VMs booting their ISOs (node3 by UEFI)');
    const outcomes = await Promise.all(E2E_NODES.map((n, i) => install(vms[i], n.name, n.address)));
    for (const o of outcomes) say(`${o.node}: ${o.result} after ${o.seconds.toFixed(0)} s (${o.detail})`);
    await writeFile(join(work, 'e2e-installer-result.json'), `${JSON.stringify(outcomes, null, 2)}\n`);
    if (outcomes.some((o) => o.result === 'failed')) return 1;
    if (outcomes.some((o) => o.result === 'stopped-at-mirror')) {
      say('the mirror serves no installer components (.udeb): every node got there unattended; the full install needs a normal Debian mirror (make e2e-installer MIRROR=…)');
      code = 3;
      return code;
    }
    for (const vm of vms.splice(0)) await vm.stop();

    net = await createPrivateNet(`pce2ei${process.pid}`, '10.79.0.1/24');
    for (const [i, n] of E2E_NODES.entries()) {
      await net.addTap(`tap${i}`);
      // keep the installer's logs; the same OS disk (now installed) and brick disk are used again
      for (const log of ['console', 'syslog']) await rename(join(work, `${n.name}-${log}.log`), join(work, `${n.name}-install-${log}.log`));
      vms.push(await bootDiskVm({
        name: n.name, workDir: work, firmware: n.firmware, mac: n.mac, netns: net.ns, tap: `tap${i}`,
        osSerial: 'pc-os', disks: [{ serial: 'pc-gv0', sizeGiB: 20 }], memoryMiB: 1536,
      }));
    }
    say('installed nodes booted on the private network; waiting for the cluster');
    const s = await waitHealthy({
      net, config, nodes: E2E_NODES.map((n) => n.name), timeoutMs: 40 * 60_000, say,
      alive: () => vms.find((vm) => vm.exited)?.name.concat(': QEMU exited') ?? null,
    });
    say(`HEALTHY ${s.toFixed(0)} s after the installed nodes were powered on`);
    code = 0;
    return 0;
  } catch (e) {
    say(`FAILED: ${(e as Error).message}`);
    return 1;
  } finally {
    for (const vm of vms) await vm.stop().catch(() => undefined);
    await net?.destroy();
    if (code !== 0 || opt.keep || opt.work) say(`logs: ${work}/*-console.log, *-syslog.log`);
    else await rm(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
