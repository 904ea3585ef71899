import ejs from 'ejs';
import { readFileSync } from 'node:fs';
import type { NodePlan, Plan } from '../../core/plan-types.js';
import { projectPath } from '../util/paths.js';

/** Groups that only exist after the virtualisation packages are installed: added in late.sh. */
export const LATE_GROUPS = ['libvirt', 'libvirt-qemu', 'kvm'];

/** Kernel options of the installed system: a serial console next to the screen. */
export const INSTALLED_KERNEL_OPTS = 'console=tty0 console=ttyS0,115200n8';

export interface PreseedOptions {
  /** Stream the installer syslog to ttyS1 (tests, headless debugging). */
  serialLog?: boolean;
}

export function netmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

export function splitMirror(url: string): { protocol: string; hostname: string; directory: string } {
  const u = new URL(url);
  return { protocol: u.protocol.replace(':', ''), hostname: u.host, directory: u.pathname.replace(/\/+$/, '') || '/' };
}

function template(name: string): string {
  return readFileSync(projectPath('preseed', name), 'utf8');
}

export function renderNodePreseed(plan: Plan, node: NodePlan, opts: PreseedOptions = {}): string {
  const admin = plan.users[0];
  return ejs.render(template('node.cfg.ejs'), {
    plan,
    node,
    admin,
    mirror: splitMirror(plan.cluster.mirror.url),
    security: splitMirror(plan.cluster.mirror.securityUrl),
    netmask,
    kernelOpts: INSTALLED_KERNEL_OPTS,
    LATE_GROUPS,
    serialLog: Boolean(opts.serialLog),
  });
}
