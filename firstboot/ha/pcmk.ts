// Reading and changing the Pacemaker cluster: crm_mon's XML for state, cibadmin for config.
import { run } from '../exec.js';
import type { PcmkResource, PcmkState } from '../../core/ha-status.js';

export function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w-]+)="([^"]*)"/g)) out[m[1]] = m[2].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return out;
}


export function parseCrmMon(xml: string): PcmkState {
  const dcTag = /<current_dc\s[^>]*>/.exec(xml)?.[0];
  const dc = dcTag ? attrs(dcTag) : {};
  const nodesBlock = /<nodes>([\s\S]*?)<\/nodes>/.exec(xml)?.[1] ?? '';
  const nodes = [...nodesBlock.matchAll(/<node\s[^>]*?\/?>/g)].map((m) => attrs(m[0])).map((a) => ({
    name: a.name, online: a.online === 'true', standby: a.standby === 'true', unclean: a.unclean === 'true',
  }));
  const resBlock = /<resources>([\s\S]*?)<\/resources>/.exec(xml)?.[1] ?? '';
  const resources: PcmkResource[] = [];
  for (const m of resBlock.matchAll(/<resource\s([^>]*?)(\/>|>([\s\S]*?)<\/resource>)/g)) {
    const a = attrs(m[1]);
    resources.push({
      id: a.id, agent: a.resource_agent, role: a.role, active: a.active === 'true', failed: a.failed === 'true',
      nodes: [...(m[3] ?? '').matchAll(/<node\s[^>]*?\/?>/g)].map((n) => attrs(n[0]).name),
      ...(a.target_role ? { targetRole: a.target_role } : {}),
    });
  }
  const fencing = [...xml.matchAll(/<fence_event\s[^>]*?\/?>/g)].map((m) => attrs(m[0])).map((a) => ({ target: a.target, action: a.action, status: a.status, ...(a.completed ? { completed: a.completed } : {}) }));
  return { dc: dc.present === 'true' ? dc.name ?? null : null, quorate: dc.with_quorum === 'true', nodes, resources, fencing };
}

export async function crmMon(): Promise<PcmkState> {
  // a node busy with a resync or a guest can take tens of seconds to answer (the CIB is asked over IPC)
  const r = await run('crm_mon', ['-1', '--output-as=xml', '--fence-history=2'], { allowFail: true, timeoutMs: 60_000 });
  if (!r.stdout.includes('<pacemaker-result')) throw new Error(`crm_mon: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}`);
  return parseCrmMon(r.stdout);
}

export async function cibQuery(section: string): Promise<string> {
  return (await run('cibadmin', ['-Q', '-o', section], { timeoutMs: 30_000 })).stdout;
}

/** Creates the element if its id is absent, else replaces it (both are no-ops when equal). */
export async function cibUpsert(section: string, xml: string): Promise<void> {
  const id = /\bid="([^"]+)"/.exec(xml)![1];
  const cur = await cibQuery(section);
  const verb = cur.includes(`id="${id}"`) ? '--replace' : '--create';
  await run('cibadmin', [verb, '-o', section, '--xml-text', xml], { timeoutMs: 30_000 });
}

export async function cibDelete(section: string, xml: string): Promise<void> {
  await run('cibadmin', ['--delete', '-o', section, '--xml-text', xml], { allowFail: true, timeoutMs: 30_000 });
}

/** Where a resource is running (pacemaker's view), [] when stopped. */
export function whereRuns(s: PcmkState, id: string): string[] {
  const r = s.resources.find((x) => x.id === id);
  return r && r.active && (r.role === 'Started' || r.role === 'Migrating') ? r.nodes : [];
}
