import { existsSync, readFileSync } from 'node:fs';
import type { DiskSelector } from '../../core/config-types.js';
import type { NodePlan, Plan } from '../../core/plan-types.js';
import { agentFiles } from '../render/agent-files.js';
import { renderNodePreseed, type PreseedOptions } from '../render/preseed.js';
import { SYSTEM_FILES_DIR, systemFiles } from '../render/system-files.js';
import { EXIT, UserError } from '../../core/errors.js';
import { projectPath } from '../util/paths.js';
import type { CpioEntry } from './cpio.js';

// What the installer finds in its initrd next to its own files: /preseed.cfg (loaded by
// d-i's initrd-preseed) and /personal-cloud/** (scripts, agent, per-node configuration).

export const AGENT_BUNDLE = 'dist/personal-cloud-agent.mjs';
export const AGENT_UNIT = 'firstboot/personal-cloud-agent.service';
/** Runs right before S30initrd-preseed, which loads /preseed.cfg. */
export const PICK_NODE_STARTUP = 'usr/lib/debian-installer-startup.d/S29personal-cloud-pick-node';

function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

export function osDiskConf(sel: DiskSelector): string {
  const vars: [string, string | number | undefined][] =
    'id' in sel
      ? [['ID', sel.id]]
      : [
          ['MIN_BYTES', sel.match.minBytes],
          ['MAX_BYTES', sel.match.maxBytes],
          ['MODEL', sel.match.model],
          ['SERIAL', sel.match.serial],
          ['TYPE', sel.match.type],
        ];
  vars.push(['WIPE', sel.wipe ? 'true' : 'false']);
  return vars.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${shellQuote(String(v))}\n`).join('');
}

export interface AgentBundle {
  script: Buffer;
  unit: Buffer;
}

export function loadAgentBundle(): AgentBundle {
  const script = projectPath(AGENT_BUNDLE);
  const unit = projectPath(AGENT_UNIT);
  for (const f of [script, unit]) {
    if (!existsSync(f)) throw new UserError(`the first-boot agent is missing (${f})`, EXIT.failure, 'run `npm run build` in the checkout');
  }
  return { script: readFileSync(script), unit: readFileSync(unit) };
}

function nodeEntries(plan: Plan, node: NodePlan, joinKey: string, opts: PreseedOptions): CpioEntry[] {
  const base = `personal-cloud/nodes/${node.name}`;
  const entries: CpioEntry[] = [
    { path: `${base}/preseed.cfg`, content: renderNodePreseed(plan, node, opts), mode: 0o600 },
    { path: `${base}/os-disk.conf`, content: osDiskConf(node.osDisk), mode: 0o644 },
    ...agentFiles(plan, node.name, joinKey).map((f) => ({
      path: `${base}/etc/${f.path.split('/').pop()}`,
      content: f.content,
      mode: f.mode,
    })),
  ];
  if (node.mac) entries.push({ path: `${base}/mac`, content: `${node.mac}\n`, mode: 0o644 });
  return entries;
}

function userEntries(plan: Plan): CpioEntry[] {
  // user:hash:groups:keyfile:full name — read by late.sh; hashes only, never a password.
  const list = plan.users
    .map((u) => `${u.name}:${u.passwordHash}:${u.groups.join(',')}:${u.name}.keys:${u.fullName.replace(/[:\n]/g, ' ')}\n`)
    .join('');
  return [
    { path: 'personal-cloud/users/users.list', content: list, mode: 0o600 },
    ...plan.users.map((u) => ({ path: `personal-cloud/users/${u.name}.keys`, content: u.sshKeys.map((k) => `${k}\n`).join(''), mode: 0o644 })),
  ];
}

function scriptEntries(): CpioEntry[] {
  return ['early.sh', 'check-mac.sh', 'select-os-disk.sh', 'late.sh'].map((s) => ({
    path: `personal-cloud/${s}`,
    content: readFileSync(projectPath('preseed', 'scripts', s)),
    mode: 0o755,
  }));
}

export interface PayloadRequest {
  plan: Plan;
  /** One node (its own preseed is /preseed.cfg) or all nodes (universal: chosen at boot). */
  nodes: string[] | 'all';
  joinKey: string;
  agent: AgentBundle;
  preseed?: PreseedOptions;
}

export function payloadEntries(req: PayloadRequest): CpioEntry[] {
  const { plan } = req;
  const chosen = req.nodes === 'all' ? plan.nodes : req.nodes.map((n) => {
    const found = plan.nodes.find((p) => p.name === n);
    if (!found) throw new UserError(`no node named '${n}' in the cluster (nodes: ${plan.nodes.map((p) => p.name).join(', ')})`, EXIT.usage);
    return found;
  });
  const single = req.nodes !== 'all' && chosen.length === 1;
  const opts = req.preseed ?? {};
  // One node: its answers are /preseed.cfg. Universal: a startup script that runs just before
  // d-i reads /preseed.cfg copies the chosen node's answers there.
  const chooser: CpioEntry = single
    ? { path: 'preseed.cfg', content: renderNodePreseed(plan, chosen[0], opts), mode: 0o600 }
    : { path: PICK_NODE_STARTUP, content: readFileSync(projectPath('preseed', 'scripts', 'pick-node.sh')), mode: 0o755 };
  return [
    chooser,
    ...(opts.serialLog && !single ? [{ path: 'personal-cloud/serial-log', content: '', mode: 0o644 }] : []),
    ...scriptEntries(),
    { path: 'personal-cloud/agent/personal-cloud-agent.mjs', content: req.agent.script, mode: 0o644 },
    { path: 'personal-cloud/agent/personal-cloud-agent.service', content: req.agent.unit, mode: 0o644 },
    ...userEntries(plan),
    ...systemFiles(plan).map((f) => ({ path: `${SYSTEM_FILES_DIR}${f.path}`, content: f.content, mode: f.mode })),
    ...chosen.flatMap((n) => nodeEntries(plan, n, req.joinKey, opts)),
  ];
}
