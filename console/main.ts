/// <reference lib="dom" />
/// <reference path="./cockpit.d.ts" />
// The "Personal Cloud" page of Cockpit: every few seconds it asks this node's agent for the
// cluster's status through the node's own CLI (`personal-cloud status --json`, as root through
// Cockpit's superuser bridge: no daemon or port of its own), and draws consoleView() of it.
// Actions run the same CLI (`personal-cloud vm …`, `node drain|resume`) after a confirmation.
import { CLI_WRAPPER } from '../core/paths.js';
import type { StatusReport } from '../core/status-types.js';
import { VM_NAME, VM_NAME_RULE } from '../core/vm-types.js';
import { consoleView, type ConsoleView, type NodeView, type VmView, type VolumeView } from './view.js';

const REFRESH_MS = 3000;
const ISO_DIR = '/mnt/gv1/iso';

type Child = Node | string | null | undefined | false;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c) e.append(c);
  return e;
}

/** Output and outcome of one program run as root through Cockpit (stderr joins stdout unless ignored). */
async function spawn(argv: string[], superuser: 'try' | 'require', err: 'out' | 'ignore' = 'out'): Promise<{ out: string; exit: number | null; problem: string | null; message?: string }> {
  let out = '';
  const proc = cockpit.spawn(argv, { superuser, err });
  proc.stream((d) => { out += d; });
  try {
    await proc;
    return { out, exit: 0, problem: null };
  } catch (e) {
    const x = e as cockpit.SpawnError;
    return { out, exit: x.exit_status ?? null, problem: x.problem ?? null, message: x.message };
  }
}

/** One run of this node's CLI (errors are in plain words on stderr). */
const cli = (args: string[], superuser: 'try' | 'require') => spawn([CLI_WRAPPER, ...args], superuser);

/** Why the status could not be read, in plain words with what to do. */
function statusFailure(r: Awaited<ReturnType<typeof cli>>): string {
  const text = r.out.trim();
  if (r.problem === 'not-found' || /No such file|not found/i.test(r.message ?? '')) return `This node has no \`${CLI_WRAPPER}\` yet: its personal-cloud agent has not started. Check \`systemctl status personal-cloud-agent\`.`;
  if (r.problem === 'access-denied' || r.exit === 78 || /EACCES|permission denied/i.test(text)) return 'Reading the cluster status needs administrative access: switch on "Administrative access" at the top of Cockpit.';
  return `The agent of this node did not give its status${text ? `: ${text.split('\n').slice(-3).join(' ')}` : r.message ? `: ${r.message}` : ''}.`;
}

const STATE_LABEL: Record<string, string> = { up: 'up', down: 'down', fenced: 'fenced', draining: 'draining', standby: 'drained', unknown: 'unknown' };

function badge(state: string, label = STATE_LABEL[state] ?? state): HTMLElement {
  return el('span', { class: `badge badge-${state}` }, label);
}

function actionButton(key: string, label: string, confirmText: string, args: string[]): HTMLButtonElement {
  const b = el('button', { type: 'button', class: 'action', 'data-key': key }, label);
  b.addEventListener('click', () => confirmAction(confirmText, args));
  return b;
}

function nodeCard(n: NodeView, v: ConsoleView): HTMLElement {
  const ha = v.vms !== null;
  const steps = n.steps.length
    ? el('ul', { class: 'steps' }, ...n.steps.map((s) => el('li', { class: `step step-${s.state}` }, el('span', { class: 'step-name' }, s.name), ' ', badge(s.state), ' ', el('span', { class: 'step-detail' }, s.detail))))
    : el('p', { class: 'muted' }, 'No agent steps known.');
  return el('article', { class: `card node node-${n.state}`, 'data-node': n.name },
    el('h3', {}, n.name, ' ', badge(n.state), n.leader ? el('span', { class: 'tag' }, 'leader') : null, n.self ? el('span', { class: 'tag' }, 'this node') : null),
    el('p', { class: 'why' }, n.why),
    n.vms.length ? el('p', {}, `VMs: ${n.vms.join(', ')}`) : null,
    el('details', {}, el('summary', { 'data-key': `steps-${n.name}` }, `Agent steps${n.converged === false ? ' (working)' : ''}`), steps),
    ha && n.state !== 'down' && n.state !== 'fenced'
      ? el('div', { class: 'actions' }, n.state === 'standby' || n.state === 'draining'
        ? actionButton(`resume-${n.name}`, `Resume ${n.name}`, `Resume ${n.name}: it runs VMs again.`, ['node', 'resume', n.name])
        : actionButton(`drain-${n.name}`, `Drain ${n.name}`, `Drain ${n.name}: every VM on it moves to another node (live migration).`, ['node', 'drain', n.name]))
      : null,
  );
}

function volumeCard(vol: VolumeView): HTMLElement {
  return el('article', { class: `card volume volume-${vol.state}`, 'data-volume': vol.name },
    el('h3', {}, vol.name, ' ', badge(vol.state)),
    el('p', {}, [vol.type, vol.mounted ? 'mounted here' : 'not mounted here', `heal pending: ${vol.healPending}`].filter(Boolean).join(' · ')),
    vol.space ? el('p', { class: 'space' }, vol.space) : null,
    el('table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Node'), el('th', { scope: 'col' }, 'Brick'), el('th', { scope: 'col' }, 'State'), el('th', { scope: 'col' }, 'To heal'))),
      el('tbody', {}, ...vol.bricks.map((b) => el('tr', {},
        el('td', {}, b.node), el('td', { class: 'path' }, b.path),
        el('td', {}, b.online === undefined ? badge('unknown') : badge(b.online ? 'up' : 'down', b.online ? 'online' : 'offline')),
        el('td', {}, b.heal === undefined ? '–' : String(b.heal)))))),
    ...vol.problems.map((p) => el('p', { class: 'problem' }, p.detail)),
  );
}

function machinesLink(vm: VmView, v: ConsoleView): HTMLElement {
  const hash = `/machines#/vm?name=${encodeURIComponent(vm.name)}&connection=system`;
  const node = v.nodes.find((n) => n.name === vm.node);
  if (!vm.node || vm.node === v.self) {
    const a = el('a', { href: '#', 'data-key': `console-${vm.name}` }, 'console');
    a.addEventListener('click', (e) => { e.preventDefault(); cockpit.jump(hash); });
    return a;
  }
  // the VM's console is in the Cockpit of the node running it
  return el('a', { href: `https://${node?.address ?? vm.node}:9090${hash}`, target: '_blank', rel: 'noopener', 'data-key': `console-${vm.name}` }, `console (on ${vm.node})`);
}

function vmRow(vm: VmView, v: ConsoleView): HTMLElement {
  const targets = v.nodes.filter((n) => n.state === 'up' && n.name !== vm.node);
  const select = el('select', { 'aria-label': `Node to migrate ${vm.name} to`, 'data-key': `target-${vm.name}` }, ...targets.map((n) => el('option', { value: n.name }, n.name)));
  const migrate = el('button', { type: 'button', class: 'action', 'data-key': `migrate-${vm.name}` }, 'Migrate');
  migrate.addEventListener('click', () => confirmAction(`Migrate ${vm.name} from ${vm.node} to ${select.value} (live).`, ['vm', 'migrate', vm.name, select.value]));
  return el('tr', { 'data-vm': vm.name },
    el('td', {}, vm.name), el('td', {}, badge(vm.failed ? 'down' : vm.running ? 'up' : 'unknown', vm.state)), el('td', {}, vm.node ?? '–'), el('td', { class: 'size' }, vm.size ?? '–'),
    el('td', { class: 'actions' },
      vm.running ? actionButton(`stop-${vm.name}`, 'Stop', `Stop VM ${vm.name} (shut down; Pacemaker keeps it stopped).`, ['vm', 'stop', vm.name])
        : actionButton(`start-${vm.name}`, 'Start', `Start VM ${vm.name}.`, ['vm', 'start', vm.name]),
      vm.running && targets.length ? select : null, vm.running && targets.length ? migrate : null,
      machinesLink(vm, v)));
}

function render(v: ConsoleView): HTMLElement {
  return el('div', {},
    el('section', { class: `summary verdict-${v.verdict}`, 'aria-label': 'Summary' },
      el('h2', { id: 'headline' }, v.headline),
      el('p', {}, `Node ${v.self} · leader: ${v.leader ?? 'none yet'} · ${v.quorum}`),
      v.problems.length ? el('ul', { class: 'problems', 'aria-label': 'Problems' }, ...v.problems.map((p) => el('li', {}, el('strong', {}, p.subject), ': ', p.detail))) : null),
    el('section', { 'aria-labelledby': 'h-nodes' }, el('h2', { id: 'h-nodes' }, 'Nodes'), el('div', { class: 'grid' }, ...v.nodes.map((n) => nodeCard(n, v)))),
    el('section', { 'aria-labelledby': 'h-volumes' }, el('h2', { id: 'h-volumes' }, 'Volumes'),
      v.volumes.length ? el('div', { class: 'grid' }, ...v.volumes.map(volumeCard)) : el('p', { class: 'muted' }, 'No volumes yet.')),
    el('section', { 'aria-labelledby': 'h-vms' }, el('h2', { id: 'h-vms' }, 'Virtual machines'),
      v.vms === null ? el('p', { class: 'muted' }, 'HA is off on this cluster: no VMs.')
        : v.vms.length ? el('div', { class: 'scroll' }, el('table', { class: 'vms' },
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'VM'), el('th', { scope: 'col' }, 'State'), el('th', { scope: 'col' }, 'Node'), el('th', { scope: 'col' }, 'Size'), el('th', { scope: 'col' }, 'Actions'))),
          el('tbody', {}, ...v.vms.map((vm) => vmRow(vm, v)))))
          : el('p', { class: 'muted' }, 'No VMs yet: create one below.')),
  );
}

const main = () => document.getElementById('main')!;
const banner = () => document.getElementById('banner')!;
let shown = '';

function show(content: HTMLElement, key: string): void {
  if (key === shown) return;
  shown = key;
  // redraws must not take the keyboard focus away from the control a person is on
  const focusKey = (document.activeElement as HTMLElement | null)?.dataset?.key;
  const open = [...main().querySelectorAll('details[open]')].map((d) => d.closest('[data-node]')?.getAttribute('data-node'));
  main().replaceChildren(content);
  for (const n of open) main().querySelector(`[data-node="${n}"] details`)?.setAttribute('open', '');
  if (focusKey) (main().querySelector(`[data-key="${focusKey}"]`) as HTMLElement | null)?.focus();
}

async function refresh(): Promise<void> {
  // --recent: no fresh `gluster volume heal info` (seconds of CPU) at every refresh
  const r = await cli(['status', '--json', '--recent'], 'try');
  const json = r.out.slice(r.out.indexOf('{'));
  // exit 3: not converged or degraded, which the report itself says
  if ((r.exit === 0 || r.exit === 3) && json.startsWith('{')) {
    try {
      const v = consoleView(JSON.parse(json) as StatusReport);
      banner().textContent = v.stale ? `Showing the last saved status: the agent on ${v.self} is not answering.` : '';
      banner().hidden = !v.stale;
      show(render(v), JSON.stringify(v));
      document.getElementById('create')!.hidden = v.vms === null;
      document.body.dataset.state = v.verdict;
      return;
    } catch (e) { r.message = `unreadable status (${(e as Error).message})`; }
  }
  banner().textContent = statusFailure(r);
  banner().hidden = false;
  document.body.dataset.state = 'error';
}

async function loop(): Promise<void> {
  for (;;) {
    await refresh().catch((e: Error) => { banner().textContent = `This page failed: ${e.message}`; banner().hidden = false; });
    document.getElementById('updated')!.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    await new Promise((r) => setTimeout(r, REFRESH_MS));
  }
}

/** Asks before an action; runs it as root through the same CLI the node has; shows what it said. */
function confirmAction(text: string, args: string[], onDone?: () => void): void {
  const dialog = document.getElementById('confirm') as HTMLDialogElement;
  const opener = document.activeElement as HTMLElement | null;
  document.getElementById('confirm-text')!.textContent = text;
  dialog.returnValue = '';
  dialog.onclose = async () => {
    opener?.focus();
    if (dialog.returnValue !== 'ok') return;
    const result = document.getElementById('result')!;
    result.className = 'result busy';
    result.textContent = `Running: personal-cloud ${args.join(' ')} …`;
    const r = await cli(args, 'require');
    const out = r.out.trim();
    if (r.exit === 0) {
      result.className = 'result ok';
      result.textContent = `Done: personal-cloud ${args.join(' ')}${out ? ` — ${out.split('\n').slice(-2).join(' ')}` : ''}`;
      onDone?.();
    } else {
      result.className = 'result failed';
      result.textContent = `Failed: personal-cloud ${args.join(' ')} — ${out || r.message || `exit ${r.exit}`}`;
    }
    shown = '';
    void refresh();
  };
  dialog.showModal();
  (document.getElementById('confirm-cancel') as HTMLButtonElement).focus();
}

const input = (id: string) => document.getElementById(id) as HTMLInputElement;

/** Choices for the create form, read when it opens: ISO images on gv1, and libvirt's networks (one per cluster bridge). */
async function fillCreateChoices(): Promise<void> {
  const lines = async (argv: string[]) => (await spawn(argv, 'try', 'ignore')).out.split('\n').map((l) => l.trim()).filter(Boolean);
  // the plan's ISO folder (gv1/iso): a replicated volume, so every node can boot the VM from it
  const isos = await lines(['find', ISO_DIR, '-maxdepth', '1', '-name', '*.iso']);
  document.getElementById('iso-list')!.replaceChildren(...isos.sort().map((p) => el('option', { value: p })));
  const nets = await lines(['virsh', '-c', 'qemu:///system', 'net-list', '--name']);
  const select = document.getElementById('vm-network') as HTMLSelectElement;
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '' }, 'none'), ...nets.map((n) => el('option', { value: n }, n)));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : '';
}

/** The `vm create` command line the form asks for (the CLI checks it again, and says what is wrong). */
function createArgs(): { args: string[]; text: string } {
  const v = (id: string) => input(id).value.trim();
  const name = v('vm-name');
  const args = ['vm', 'create', name, '--memory', v('vm-memory'), '--vcpus', v('vm-vcpus'), '--disk-size', v('vm-disk')];
  const opt: [string, string][] = [['--cdrom', v('vm-iso')], ['--network', v('vm-network')], ['--kernel', v('vm-kernel')], ['--initrd', v('vm-initrd')], ['--cmdline', v('vm-cmdline')]];
  for (const [flag, value] of opt) if (value) args.push(flag, value);
  if (input('vm-tcg').checked) args.push('--tcg');
  const boot = v('vm-kernel') ? `kernel ${v('vm-kernel')}` : v('vm-iso') ? `installer ${v('vm-iso')}` : 'an empty disk';
  return { args, text: `Create VM ${name}: ${v('vm-memory')} MiB, ${v('vm-vcpus')} vCPU, ${v('vm-disk')} disk, booting ${boot}${v('vm-network') ? `, on network ${v('vm-network')}` : ''}. Pacemaker starts it on a node.` };
}

function setUpCreateForm(): void {
  const form = document.getElementById('create-form') as HTMLFormElement;
  const name = input('vm-name');
  // pattern= is compiled with the v flag, where a bare - in a class is a syntax error (and the pattern ignored)
  name.pattern = VM_NAME.source.replace(/^\^|\$$/g, '').replace(/-\]/g, '\\-]');
  name.title = VM_NAME_RULE;
  document.getElementById('create-details')!.addEventListener('toggle', (e) => { if ((e.target as HTMLDetailsElement).open) void fillCreateChoices(); });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    const { args, text } = createArgs();
    confirmAction(text, args, () => { form.reset(); (document.getElementById('create-details') as HTMLDetailsElement).open = false; });
  });
}

document.addEventListener('DOMContentLoaded', () => { setUpCreateForm(); void loop(); });
