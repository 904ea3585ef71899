// fence_ipmilan's credentials on a node: cluster.yaml's BMC passwords reach the node only
// sealed with the join key (cluster.json); the agent opens them into one 0600 file per BMC
// and a 0700 script that prints it (fence_ipmilan's password_script), so no password is
// ever on a command line, in the CIB, in a log or in an image in plaintext.
import { BMC_SEAL } from '../../core/seal.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { mkdir } from 'node:fs/promises';
import { readText, writeDurable } from '../fsx.js';
import { unseal } from '../../core/seal.js';

export const BMC_DIR = '/etc/personal-cloud/bmc';
export const bmcPasswordFile = (node: string) => `${BMC_DIR}/${node}.password`;
export const bmcPasswordScript = (node: string) => `${BMC_DIR}/${node}.password-script`;

export interface SecretFile { path: string; content: string; mode: number }

/** The files this node needs to fence the others (every node may run any fence device but its own). */
export function bmcFiles(plan: AgentPlan, joinKey: string): SecretFile[] {
  const f = plan.ha?.fencing;
  if (f?.kind !== 'ipmi') return [];
  const pw = JSON.parse(unseal(joinKey, BMC_SEAL, f.passwords).toString('utf8')) as Record<string, string>;
  return plan.nodes.filter((n) => n.bmc && pw[n.name] !== undefined).flatMap((n) => [
    { path: bmcPasswordFile(n.name), content: pw[n.name], mode: 0o600 },
    { path: bmcPasswordScript(n.name), content: `#!/bin/sh\n# Written by personal-cloud-agent: fence_ipmilan's password_script for ${n.name}'s BMC.\nexec cat ${bmcPasswordFile(n.name)}\n`, mode: 0o700 },
  ]);
}

/** Writes what differs; true when everything was already in place. */
export async function ensureBmcFiles(plan: AgentPlan, joinKey: string, write: boolean): Promise<boolean> {
  let ok = true;
  for (const f of bmcFiles(plan, joinKey)) {
    if ((await readText(f.path)) === f.content) continue;
    ok = false;
    if (write) { await mkdir(BMC_DIR, { recursive: true, mode: 0o700 }); await writeDurable(f.path, f.content, f.mode); }
  }
  return ok;
}
