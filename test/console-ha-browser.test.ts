// The web console's HA part in a real browser (long tier: the HA harness takes minutes to form):
// on the three-node HA cluster of the namespace harness (libvirt, corosync, Pacemaker, fencing),
// chromium on node1's Cockpit sees quorum and where the VM runs, drains that node through the
// page (button, confirmation) and follows the VM to its new node, resumes it, creates a VM with
// the page's form (a bad name refused by the form, a taken one by the agent), and shows the error
// of an action that fails (the VM removed by someone else while the dialog was open).
import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaCluster } from './harness/ha-cluster.js';
import { ensureGuest, parseConsole } from './harness/ha-guest.js';
import { waitFor } from './harness/sh.js';
import { requireWebConsolePrerequisites, WebConsole } from './harness/web-console.js';

const NODES = ['node1', 'node2', 'node3'];
const VM = 'webvm';
const SHOTS = '/tmp/pc-cockpit-shots/ha';
let c: HaCluster;
let wc: WebConsole;
let page: Page;
const shot = (name: string) => wc.shot(SHOTS, name);

async function agentCli(node: string, args: string[]) {
  const r = await c.on(node, process.execPath, [c.h.agentPath, ...args], { allowFail: true, timeoutMs: 360_000 });
  if (r.code !== 0) throw new Error(`personal-cloud-agent ${args.join(' ')} on ${node} → exit ${r.code}: ${r.stderr.trim()}`);
  return r;
}

const vmNode = () => page.locator(`[data-vm="${VM}"] td`).nth(2).textContent();

/** Opens (or closes) the create form as a person does, whatever state an earlier test left it in. */
async function createForm(open: boolean): Promise<void> {
  if ((await page.locator('#create-details[open]').count() === 1) !== open) await page.locator('[data-key="create-open"]').click();
}

/** Clicks an action of the page and confirms it in its dialog, with the keyboard. */
async function confirm(key: string): Promise<void> {
  await page.locator(`[data-key="${key}"]`).click();
  await page.waitForSelector('#confirm[open]');
  await page.locator('#confirm-ok').focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#confirm:not([open])', { state: 'attached' });
}

describe('web console: HA (quorum, VMs, drain through the page, a failed action)', () => {
  beforeAll(async () => {
    await requireWebConsolePrerequisites();
    rmSync(SHOTS, { recursive: true, force: true });
    const guest = await ensureGuest();
    c = await HaCluster.create(NODES);
    wc = new WebConsole(c.h, 'node1', 'pcckpha');
    await wc.install();
    await c.start();
    await c.waitConverged('all three agents converged (gluster, virt, ha, cockpit)', 420_000);
    await c.stageGuest(guest);
    await agentCli('node2', ['vm', 'create', VM, '--memory', '128', '--disk-size', '16M', '--tcg', '--kernel', '/mnt/gv0/vm/boot/vmlinuz', '--initrd', '/mnt/gv0/vm/boot/initrd.gz', '--cmdline', 'console=ttyS0 quiet panic=-1']);
    await wc.start();
    page = wc.page;
    await wc.login();
    await page.waitForURL(/\/personal-cloud$/, { timeout: 30_000 });
    await page.goto(wc.pageUrl);
  }, 900_000);

  afterAll(async () => {
    await wc?.stop();
    if (process.env.PC_HA_KEEP !== '1') await c?.teardown();
    await wc?.removeUser();
  }, 180_000);

  it('shows quorum and votes, the VM and where it runs, and the console certificate from the cluster CA', async () => {
    await page.waitForSelector(`[data-vm="${VM}"]`, { timeout: 60_000 });
    expect(await page.textContent('.summary')).toMatch(/quorate: 3 of 3 votes/);
    const where = (await vmNode())!;
    expect(NODES).toContain(where);
    expect(await page.locator(`[data-vm="${VM}"]`).textContent()).toMatch(/running/);
    expect(await page.locator(`[data-vm="${VM}"] a`).textContent()).toMatch(/console/);
    // the cockpit step: issued by the cluster CA, named with its URL and fingerprint
    await page.locator('[data-node="node1"] summary').click();
    expect(await page.locator('[data-node="node1"] .step', { hasText: 'cockpit' }).textContent()).toMatch(/https:\/\/node1\.test\.internal:9090\/ certificate sha256 [0-9A-F:]{95}/);
    const v = await c.on('node1', 'openssl', ['verify', '-CAfile', '/etc/pki/CA/cacert.pem', '/etc/cockpit/ws-certs.d/50-personal-cloud.cert']);
    expect(v.stdout).toMatch(/: OK/);
    await shot('1-ha-overview');
    expect(wc.errors).toEqual([]);
  }, 120_000);

  it('with a VM and the create form open: fits 390 px, and every control is reachable by keyboard', async () => {
    await createForm(true);
    expect(await wc.overflowAt(390)).toBe(0);
    await shot('2-phone');
    const { controls, missed } = await wc.keyboardMisses('main button, main a[href], main select, main summary, #create summary, #create input, #create select, #create button');
    expect(controls).toBeGreaterThan(12);
    expect(missed).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 900 });
    await createForm(false);
    expect(wc.errors).toEqual([]);
  }, 120_000);

  it('creates a VM with the form: Pacemaker starts it, the guest boots, the page lists it; bad input is refused', async () => {
    const NEW = 'pagevm';
    await createForm(true);
    await page.fill('#vm-name', 'Bad_Name');
    await page.locator('[data-key="create-submit"]').click();
    expect(await page.locator('#vm-name:invalid').count()).toBe(1);
    expect(await page.locator('#confirm[open]').count()).toBe(0);
    await page.fill('#vm-name', NEW);
    await page.fill('#vm-memory', '128');
    await page.fill('#vm-disk', '16M');
    await page.locator('[data-key="create-advanced"]').click();
    await page.fill('#vm-kernel', '/mnt/gv0/vm/boot/vmlinuz');
    await page.fill('#vm-initrd', '/mnt/gv0/vm/boot/initrd.gz');
    await page.fill('#vm-cmdline', 'console=ttyS0 quiet panic=-1');
    await page.check('#vm-tcg');
    // the choices come from the node: libvirt's networks (the virt step defines one per bridge)
    await expect.poll(() => page.locator('#vm-network option').count(), { timeout: 10_000 }).toBeGreaterThan(1);
    await shot('3-create-form');
    await page.locator('[data-key="create-submit"]').click();
    await page.waitForSelector('#confirm[open]');
    expect(await page.textContent('#confirm-text')).toBe(`Create VM ${NEW}: 128 MiB, 1 vCPU, 16M disk, booting kernel /mnt/gv0/vm/boot/vmlinuz. Pacemaker starts it on a node.`);
    await page.locator('#confirm-ok').click();
    await page.waitForSelector('#result.ok', { timeout: 330_000 });
    expect(await page.textContent('#result')).toMatch(new RegExp(`Done: personal-cloud vm create ${NEW} .*${NEW}: Started on node\\d`));
    await page.waitForSelector(`[data-vm="${NEW}"]`, { timeout: 30_000 });
    expect(await page.locator(`[data-vm="${NEW}"]`).textContent()).toMatch(/running/);
    await expect.poll(() => page.locator(`[data-vm="${NEW}"] td.size`).textContent(), { timeout: 20_000 }).toBe('128.0 MiB · 1 vCPU');
    const where = (await page.locator(`[data-vm="${NEW}"] td`).nth(2).textContent())!;
    await waitFor(`${NEW} booted on ${where}`, 120_000, async () => parseConsole(c.serialLog(where, NEW)).filter((l) => l.kind === 'TICK').length >= 2);
    expect(await page.locator('#create-details[open]').count()).toBe(0); // closed and cleared after success
    // a taken name passes the form and is refused by the agent, in its words
    await createForm(true);
    await page.fill('#vm-name', NEW);
    await page.locator('[data-key="create-submit"]').click();
    await page.locator('#confirm-ok').click();
    await page.waitForSelector('#result.failed', { timeout: 60_000 });
    expect(await page.textContent('#result')).toMatch(new RegExp(`Failed: personal-cloud vm create ${NEW} .*a VM named ${NEW} already exists`));
    await shot('4-created');
    await agentCli('node2', ['vm', 'remove', NEW, '--delete-disk']);
    expect(wc.errors).toEqual([]);
  }, 600_000);

  it('drains the VM\'s node through the page: the VM moves and the page follows; resume', async () => {
    const from = (await vmNode())!;
    await confirm(`drain-${from}`);
    await page.waitForSelector('#result.ok', { timeout: 330_000 });
    expect(await page.textContent('#result')).toMatch(new RegExp(`Done: personal-cloud node drain ${from}`));
    await expect.poll(vmNode, { timeout: 20_000 }).not.toBe(from);
    expect(await page.locator(`[data-node="${from}"]`).getAttribute('class')).toMatch(/node-standby/);
    await shot('5-drained');
    await confirm(`resume-${from}`);
    await page.waitForSelector('#result.ok', { timeout: 120_000 });
    await expect.poll(async () => page.locator(`[data-node="${from}"]`).getAttribute('class'), { timeout: 20_000 }).toMatch(/node-up/);
    expect(wc.errors).toEqual([]);
  }, 420_000);

  it('shows the error of an action that fails (the VM removed meanwhile)', async () => {
    await page.locator(`[data-key="stop-${VM}"]`).click();
    await page.waitForSelector('#confirm[open]');
    // another admin removes the VM while this one reads the dialog
    await agentCli('node2', ['vm', 'remove', VM, '--delete-disk']);
    await page.locator('#confirm-ok').click();
    await page.waitForSelector('#result.failed', { timeout: 60_000 });
    expect(await page.textContent('#result')).toMatch(new RegExp(`Failed: personal-cloud vm stop ${VM} — .*no VM named ${VM}`));
    await shot('6-failed-action');
    // Pacemaker may list the removed resource a while longer (orphan): never as running
    await waitFor('the page without the VM running', 20_000, async () => !/running/.test((await page.locator(`[data-vm="${VM}"]`).textContent({ timeout: 1000 }).catch(() => '')) ?? ''));
    expect(wc.errors).toEqual([]);
  }, 300_000);
});
