// Memory and vCPUs of a VM, from its domain XML on the cluster volume: every node reads the same
// definition, wherever the VM runs. Read by `cat` in a child process (killable when a Gluster mount
// hangs, where a stuck read in ours would hold a thread) and kept a minute: the web console asks
// for status every 3 s.
import { join } from 'node:path';
import type { AgentPlan } from '../../core/plan-types.js';
import { run } from '../exec.js';

export interface VmSize { memoryMiB: number; vcpus: number }

const TO_MIB: Record<string, number> = { b: 1 / 2 ** 20, bytes: 1 / 2 ** 20, KiB: 1 / 1024, k: 1 / 1024, MiB: 1, M: 1, GiB: 1024, G: 1024, TiB: 2 ** 20, T: 2 ** 20 };
const KEEP_MS = 60_000;
const known = new Map<string, { at: number; size: VmSize | null }>();

/** `<memory unit='MiB'>…</memory>` (libvirt's default unit is KiB) and `<vcpu>…</vcpu>`. */
export function parseVmSize(xml: string): VmSize | null {
  const mem = /<memory(?:\s+unit=['"](\w+)['"])?\s*>\s*(\d+)\s*<\/memory>/.exec(xml);
  const cpu = /<vcpu\b[^>]*>\s*(\d+)\s*<\/vcpu>/.exec(xml);
  const factor = TO_MIB[mem?.[1] ?? 'KiB'];
  if (!mem || !cpu || factor === undefined) return null;
  return { memoryMiB: Math.round(Number(mem[2]) * factor), vcpus: Number(cpu[1]) };
}

export async function vmSize(plan: AgentPlan, name: string): Promise<VmSize | null> {
  const k = known.get(name);
  if (k && Date.now() - k.at < KEEP_MS) return k.size;
  if (!plan.ha?.vmDir) return null;
  const r = await run('cat', [join(plan.ha.vmDir, name, `${name}.xml`)], { allowFail: true, timeoutMs: 3000 });
  const size = r.code === 0 ? parseVmSize(r.stdout) : null;
  known.set(name, { at: Date.now(), size });
  return size;
}
