import ejs from 'ejs';
import { readFileSync } from 'node:fs';
import type { Plan } from '../../core/plan-types.js';
import { projectPath } from '../util/paths.js';

export type ConsoleKind = 'screen' | 'serial';

export interface BootEntry {
  id: string;
  title: string;
  /** chain: hand over to another menu file (kernel = its path), e.g. a remastered ISO's own menu. */
  kind: 'install' | 'local' | 'chain';
  kernel: string;
  initrds: string[];
  append: string;
}

export interface BootMenu {
  title: string;
  /** Seconds before the first entry boots. */
  timeout: number;
  entries: BootEntry[];
}

/** Installer kernel command line: unattended, at critical priority, on the chosen console. */
export function installerCmdline(console: ConsoleKind, extra: string[] = []): string {
  const consoleArgs = console === 'serial' ? ['console=ttyS0,115200n8'] : ['vga=788'];
  return ['auto=true', 'priority=critical', ...extra, ...consoleArgs, '---', 'quiet'].join(' ');
}

export interface MenuLayout {
  kernel: string;
  /** Installer initrd, with the payload appended (per-node) or as is (universal). */
  initrd: string;
  /** Universal media: the payload loaded as a second initrd. */
  payload?: string;
}

export function nodeMenu(plan: Plan, node: string, layout: MenuLayout, console: ConsoleKind, timeout = 5): BootMenu {
  const initrds = [layout.initrd, ...(layout.payload ? [layout.payload] : [])];
  return {
    title: `${plan.cluster.name} / ${node}`,
    timeout,
    entries: [
      { id: 'install', title: `Install ${node} (unattended, erases its OS disk)`, kind: 'install', kernel: layout.kernel, initrds, append: installerCmdline(console, layout.payload ? [`pc.node=${node}`] : []) },
      { id: 'local', title: 'Boot from the local disk', kind: 'local', kernel: '', initrds: [], append: '' },
    ],
  };
}

export function universalMenu(plan: Plan, layout: MenuLayout, console: ConsoleKind, timeout = 5): BootMenu {
  const initrds = [layout.initrd, ...(layout.payload ? [layout.payload] : [])];
  const install = (id: string, title: string, node: string): BootEntry => ({
    id, title, kind: 'install', kernel: layout.kernel, initrds, append: installerCmdline(console, [`pc.node=${node}`]),
  });
  return {
    title: `${plan.cluster.name} (universal)`,
    timeout,
    entries: [
      install('auto', 'Install the node whose MAC this PC has (unattended)', 'auto'),
      ...plan.nodes.map((n) => install(`node-${n.name}`, `Install ${n.name} (unattended, erases its OS disk)`, n.name)),
      { id: 'local', title: 'Boot from the local disk', kind: 'local', kernel: '', initrds: [], append: '' },
    ],
  };
}

function render(template: string, data: object): string {
  return ejs.render(readFileSync(projectPath('iso-overlay', template), 'utf8'), data);
}

/** `ui`: the menu module; a remaster must use the one its ISO ships (same syslinux build). */
export function renderIsolinuxCfg(menu: BootMenu, ui = 'menu.c32'): string {
  return render('isolinux/isolinux.cfg.ejs', { ...menu, ui });
}

export function renderGrubCfg(menu: BootMenu): string {
  return render('boot/grub/grub.cfg.ejs', menu);
}

export function renderReadme(plan: Plan, title: string): string {
  return render('README.txt.ejs', { plan, title });
}
