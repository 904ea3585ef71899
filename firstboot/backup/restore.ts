// `restore VM [--at ARCHIVE] [--as NEWNAME]`: borg extract into a staging folder on gv0, the
// domain definition adapted (for --as: new name, new UUID and MACs, disk and console paths in the
// new folder), moved into place and handed to Pacemaker as `vm create` does. It refuses a name
// Pacemaker already has (running or not) and a folder that still holds a definition; a disk left
// by `vm remove` is kept aside, never overwritten.
import { chown, mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArchiveName } from '../../core/backup.js';
import { LIBVIRT_QEMU_ID } from '../../core/ids.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { VM_NAME, VM_NAME_RULE, type VmInfo } from '../../core/vm-types.js';
import { run } from '../exec.js';
import { exists, writeDurable } from '../fsx.js';
import { vmResourceId } from '../ha/cib.js';
import { cibQuery, crmMon } from '../ha/pcmk.js';
import { serialLog, vmDir, vmList, vmRegister } from '../virt/vm.js';
import { borg, borgFor, type Borg } from './borg.js';
import { RunLock, type RunMarker } from './marker.js';
import { cleanUp, type RunContext } from './runner.js';

export interface RestoreResult { vm: string; from: string; archive: string; info: VmInfo; keptAside: string[]; cleaned: string[]; seconds: number }

export class RestoreError extends Error {}

const escRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The definition of a copy: its own name, UUID, MACs, folder and console log. Pure. */
export function renameDomainXml(xml: string, o: { from: string; to: string; vmRoot: string }): string {
  if (o.from === o.to) return xml;
  return xml
    .replace(/<name>[^<]*<\/name>/, `<name>${o.to}</name>`)
    .replace(/\s*<uuid>[^<]*<\/uuid>/, '')
    .replace(/\s*<mac address=['"][^'"]*['"]\s*\/>/g, '')
    .replace(new RegExp(escRe(`${o.vmRoot}/${o.from}/`), 'g'), `${o.vmRoot}/${o.to}/`)
    .replace(new RegExp(escRe(serialLog(o.from)), 'g'), serialLog(o.to));
}

export async function latestArchive(b: Borg, vm: string): Promise<string> {
  const list = JSON.parse((await borg(b, ['list', '--json', '--glob-archives', `${vm}.*`, b.repo], { timeoutMs: 600_000 })).stdout) as { archives: { name: string }[] };
  const names = list.archives.map((a) => a.name).filter((n) => parseArchiveName(n)?.vm === vm).sort();
  if (!names.length) throw new RestoreError(`no backup of ${vm} in ${b.repo}`);
  return names[names.length - 1];
}

export async function restoreVm(ctx: RunContext, r: { vm: string; at?: string; as?: string; opTimeoutS?: number }, onProgress: (p: RunMarker['progress']) => void = () => undefined): Promise<RestoreResult> {
  const t0 = Date.now();
  const { plan } = ctx;
  const name = r.as ?? r.vm;
  if (!VM_NAME.test(r.vm)) throw new RestoreError(`VM name "${r.vm}": use ${VM_NAME_RULE}`);
  if (!VM_NAME.test(name)) throw new RestoreError(`--as "${name}": use ${VM_NAME_RULE}`);
  const existing = vmList(await crmMon()).find((v) => v.name === name);
  if (existing || (await cibQuery('resources')).includes(`id="${vmResourceId(name)}"`)) {
    throw new RestoreError(`a VM named ${name} exists (${existing ? `${existing.role}${existing.nodes.length ? ` on ${existing.nodes.join(',')}` : ''}` : 'in Pacemaker'}): restore never overwrites a VM — \`vm remove ${name}\` first, or restore ${r.vm} --as NEWNAME`);
  }
  const dir = vmDir(plan, name);
  const xmlPath = join(dir, `${name}.xml`);
  if (await exists(xmlPath)) throw new RestoreError(`${xmlPath} exists (a VM definition Pacemaker does not know): move it away or restore --as NEWNAME`);
  const b = await borgFor(plan, ctx.joinKey, ctx.agentStateDir);
  let archive = r.at ?? await latestArchive(b, r.vm);
  if (r.at && !r.at.includes('.')) archive = `${r.vm}.${r.at}`;
  if (parseArchiveName(archive)?.vm !== r.vm) throw new RestoreError(`--at ${r.at}: not an archive of ${r.vm} (archives are named ${r.vm}.YYYYMMDDTHHMMSSZ; see \`backup list ${r.vm}\`)`);
  const { lock, stale } = await RunLock.acquire(plan, ctx.self, `restore of ${r.vm}${name !== r.vm ? ` as ${name}` : ''}`);
  const staging = join(plan.ha!.vmDir, `.restore-${name}-${process.pid}`);
  try {
    const cleaned = stale ? await cleanUp(ctx, b, stale) : [];
    lock.m.overlays = [];
    await mkdir(staging, { recursive: true });
    lock.m.progress = { vm: r.vm, phase: 'restore' }; onProgress(lock.m.progress);
    await borg(b, ['extract', '--sparse', '--progress', '--log-json', `${b.repo}::${archive}`], {
      cwd: staging, timeoutMs: 24 * 3600_000,
      onProgress: (p) => { if (p.message) { lock.m.progress = { vm: r.vm, phase: `restore: ${p.message}` }; onProgress(lock.m.progress); } },
    }).catch((e: Error) => { throw new RestoreError(/does not exist/.test(e.message) ? `no archive ${archive} (see \`backup list ${r.vm}\`)` : e.message); });
    const from = join(staging, r.vm);
    const files = await readdir(from);
    if (!files.includes(`${r.vm}.xml`)) throw new RestoreError(`${archive} holds no domain definition (${r.vm}.xml)`);
    await mkdir(dir, { recursive: true });
    await chown(dir, LIBVIRT_QEMU_ID, LIBVIRT_QEMU_ID).catch(() => undefined);
    const keptAside: string[] = [];
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    for (const f of files.filter((x) => x !== `${r.vm}.xml`)) {
      const dest = join(dir, f);
      if (await exists(dest)) { const aside = `${dest}.before-restore-${stamp}`; await rename(dest, aside); keptAside.push(aside); }
      await rename(join(from, f), dest);
      await chown(dest, LIBVIRT_QEMU_ID, LIBVIRT_QEMU_ID).catch(() => undefined);
    }
    const xml = renameDomainXml(await readFile(join(from, `${r.vm}.xml`), 'utf8'), { from: r.vm, to: name, vmRoot: plan.ha!.vmDir });
    await writeDurable(xmlPath, xml, 0o644);
    await run('rm', ['-rf', '--', staging]);
    lock.m.progress = { vm: name, phase: 'start' }; onProgress(lock.m.progress);
    const info = await vmRegister(name, xmlPath, r.opTimeoutS);
    return { vm: name, from: r.vm, archive, info, keptAside, cleaned, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await run('rm', ['-rf', '--', staging], { allowFail: true });
    await lock.release();
  }
}
