// Boot loader configuration for the PXE tree: pxelinux (BIOS), GRUB (UEFI) and iPXE. Every
// loader gets the same menus; the install entries use the image builder's command line.
import type { Plan } from '../../core/plan-types.js';
import { installerCmdline, type BootEntry, type BootMenu, type ConsoleKind } from '../render/boot-menu.js';
import { IPXE_SCRIPT, KERNEL, defaultMenuPath, nodeInitrd, type EntryMode, type Loader } from './layout.js';

export const UNSTAMPED = 'unset';

/** How each loader tells the installer the address of its boot server (for the "installed" report). */
const SERVER_ARG: Record<Loader, string> = {
  // pxelinux has no variables (and IPAPPEND 1 would put ip= after "---", into the installed
  // system's command line): `serve` stamps its own address here when it starts.
  pxelinux: `pc.pxe-server=${UNSTAMPED}`,
  grub: 'pc.pxe-server=${net_default_server}',
  ipxe: 'pc.pxe-server=${next-server}',
};

export interface MenuContext {
  plan: Plan;
  console: ConsoleKind;
  httpPort: number;
}

function installEntry(ctx: MenuContext, loader: Loader, node: string, id: string, title: string): BootEntry {
  const extra = [`pc.pxe-port=${ctx.httpPort}`, SERVER_ARG[loader]];
  return { id, title, kind: 'install', kernel: `/${KERNEL}`, initrds: [`/${nodeInitrd(node)}`], append: installerCmdline(ctx.console, extra) };
}

const LOCAL: BootEntry = { id: 'local', title: 'Boot from the local disk', kind: 'local', kernel: '', initrds: [], append: '' };

/**
 * A known machine's own menu. install: its unattended install boots unless someone picks
 * otherwise. local: it is installed, so it boots its disk; reinstalling is an explicit choice.
 */
export function nodeMenu(ctx: MenuContext, loader: Loader, node: string, mode: EntryMode): BootMenu {
  const title = `${ctx.plan.cluster.name} / ${node}`;
  if (mode === 'install') {
    return { title, timeout: 3, entries: [installEntry(ctx, loader, node, 'install', `Install ${node} (unattended, erases its OS disk)`), LOCAL] };
  }
  return { title: `${title} (installed)`, timeout: 3, entries: [LOCAL, installEntry(ctx, loader, node, 'reinstall', `Reinstall ${node} (unattended, erases its OS disk)`)] };
}

/** Machines the config does not know: local boot unless someone picks a node by hand. */
export function unknownMenu(ctx: MenuContext, loader: Loader): BootMenu {
  return {
    title: `${ctx.plan.cluster.name} (unknown machine)`,
    timeout: 10,
    entries: [LOCAL, ...ctx.plan.nodes.map((n) => installEntry(ctx, loader, n.name, `node-${n.name}`, `Install as ${n.name} (unattended, erases its OS disk)`))],
  };
}

const strip = (p: string) => p.replace(/^\//, '');

export function renderPxelinux(menu: BootMenu): string {
  const lines = [
    `# personal-cloud ${menu.title} — BIOS network boot (pxelinux)`,
    'SERIAL 0 115200',
    'UI menu.c32',
    `MENU TITLE personal-cloud: ${menu.title}`,
    'PROMPT 0',
    `TIMEOUT ${Math.max(1, menu.timeout * 10)}`,
    `DEFAULT ${menu.entries[0].id}`,
  ];
  for (const e of menu.entries) {
    lines.push('', `LABEL ${e.id}`, `  MENU LABEL ${e.title}`);
    if (e.kind === 'local') {
      // 0 = leave the network boot and boot the local disk the normal way.
      lines.push('  LOCALBOOT 0');
    } else {
      // Paths are relative to the folder of pxelinux.0 (the TFTP root).
      lines.push(`  KERNEL ${strip(e.kernel)}`, `  INITRD ${e.initrds.map(strip).join(',')}`, `  APPEND ${e.append}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const grubQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Debian's signed netboot GRUB reads $prefix/grub.cfg without trying grub.cfg-01-<mac> first
 * (its built-in config calls `normal` with a file, which skips that search), so the menu for
 * unknown machines starts by handing a known machine over to its own file.
 */
const GRUB_MAC_DISPATCH = [
  'if [ -n "$net_default_mac" ]; then',
  '  regexp --set=1:m1 --set=2:m2 --set=3:m3 --set=4:m4 --set=5:m5 --set=6:m6 ' + `'^${Array(6).fill('([0-9a-fA-F][0-9a-fA-F])').join(':')}$' "$net_default_mac"`,
  // No `[ -f ]` first: GRUB cannot stat files over TFTP. A missing file is an error message, and
  // the unknown machine's menu below follows.
  '  configfile "$prefix/grub.cfg-01-$m1-$m2-$m3-$m4-$m5-$m6"',
  'fi',
];

export function renderGrub(menu: BootMenu, dispatchByMac = false): string {
  const lines = [
    `# personal-cloud ${menu.title} — UEFI network boot (GRUB)`,
    'serial --unit=0 --speed=115200',
    'terminal_input console serial',
    'terminal_output console serial',
    ...(dispatchByMac ? GRUB_MAC_DISPATCH : []),
    `set timeout=${menu.timeout}`,
    'set default=0',
    `echo ${grubQuote(`personal-cloud: ${menu.title}`)}`,
  ];
  for (const e of menu.entries) {
    lines.push('', `menuentry ${grubQuote(e.title)} --id ${e.id} {`);
    if (e.kind === 'local') {
      // Back to the firmware, which tries its next boot option (the disk).
      lines.push('    exit');
    } else {
      lines.push(`    echo ${grubQuote(`Loading ${e.title}`)}`, `    linux   ${e.kernel} ${e.append}`, `    initrd  ${e.initrds.join(' ')}`);
    }
    lines.push('}');
  }
  return `${lines.join('\n')}\n`;
}

export function renderIpxe(menu: BootMenu): string {
  const lines = [
    '#!ipxe',
    `# personal-cloud ${menu.title} — iPXE`,
    `menu personal-cloud: ${menu.title}`,
    ...menu.entries.map((e) => `item ${e.id} ${e.title}`),
    `choose --default ${menu.entries[0].id} --timeout ${menu.timeout * 1000} target || goto ${menu.entries[0].id}`,
    'goto ${target}',
  ];
  for (const e of menu.entries) {
    lines.push('', `:${e.id}`);
    if (e.kind === 'local') {
      lines.push('exit');
    } else {
      // Absolute paths: they resolve against the server the script came from (TFTP or HTTP).
      lines.push(`kernel ${e.kernel} initrd=initrd.gz ${e.append}`, ...e.initrds.map((i) => `initrd --name initrd.gz ${i}`), 'boot');
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The entry point for users who chain-load iPXE: a machine's own script, else the menu. */
export function renderIpxeEntry(plan: Plan): string {
  return [
    '#!ipxe',
    `# personal-cloud ${plan.cluster.name}: chain-load me (tftp://SERVER/${IPXE_SCRIPT} or http://SERVER:PORT/${IPXE_SCRIPT}).`,
    '# A machine listed in cluster.yaml boots its own ipxe/01-aa-bb-cc-dd-ee-ff.ipxe; any other one gets the menu.',
    'chain --autofree /ipxe/01-${mac:hexhyp}.ipxe || chain --autofree /' + defaultMenuPath('ipxe'),
    '',
  ].join('\n');
}

export function renderLoaderConfig(loader: Loader, menu: BootMenu, isDefault = false): string {
  switch (loader) {
    case 'pxelinux': return renderPxelinux(menu);
    case 'grub': return renderGrub(menu, isDefault);
    case 'ipxe': return renderIpxe(menu);
  }
}
