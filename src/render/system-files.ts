// Files outside /etc/personal-cloud that every node gets from the plan, whichever way it is
// installed (part of src/render/node-files.ts).
import type { Plan } from '../../core/plan-types.js';
import type { RenderedFile } from './agent-files.js';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * chrony reads /etc/chrony/sources.d (Debian's chrony.conf: `sourcedir`): the cluster's NTP
 * servers. A name like *.pool.ntp.org is a pool of many servers, anything else one server.
 */
function chronySources(plan: Plan): string {
  const line = (s: string) => `${!IPV4.test(s) && /(^|\.)pool\.ntp\.org$/.test(s) ? 'pool' : 'server'} ${s} iburst`;
  return `# personal-cloud: the NTP servers of cluster ${plan.cluster.name} (cluster.yaml ntp)\n${plan.cluster.ntp.map(line).join('\n')}\n`;
}

// Debian's kernel waits forever after a panic: a cluster node should come back and rejoin by
// itself instead (an oops is a panic: a half-dead kernel may still hold a brick, a lock, a VM)
const PANIC_SYSCTL = `# personal-cloud: a node whose kernel fails reboots and rejoins the cluster
kernel.panic = 10
kernel.panic_on_oops = 1
`;

export function systemFiles(plan: Plan): RenderedFile[] {
  return [
    { path: '/etc/chrony/sources.d/personal-cloud.sources', content: chronySources(plan), mode: 0o644 },
    { path: '/etc/sysctl.d/60-personal-cloud.conf', content: PANIC_SYSCTL, mode: 0o644 },
  ];
}
