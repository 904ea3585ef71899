// The web console in a real browser: Debian's chromium (driven by playwright-core) logs in to a
// real cockpit-ws + cockpit-bridge running inside node1 of a three-node namespace cluster (real
// agents, real glusterd), as a sudo-capable user made for the test, and opens the "Personal
// Cloud" page installed where a node has it (/usr/share/cockpit/personal-cloud, the built page).
// Chromium runs in node1's network namespace: all traffic stays on node1's loopback.
// Screenshots of each state: /tmp/pc-cockpit-shots.
import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness } from './harness/cluster.js';
import { planFor, testConfig } from './harness/plan.js';
import { waitFor } from './harness/sh.js';
import { requireWebConsolePrerequisites, WebConsole } from './harness/web-console.js';

const NODES = ['node1', 'node2', 'node3'];
const SHOTS = '/tmp/pc-cockpit-shots';

let h: Harness;
let wc: WebConsole;
let page: Page;
const shot = (name: string) => wc.shot(SHOTS, name);
const nodeCard = (n: string) => page.locator(`[data-node="${n}"]`);

describe('web console in a real browser', () => {
  beforeAll(async () => {
    await requireWebConsolePrerequisites();
    rmSync(SHOTS, { recursive: true, force: true });
    h = await Harness.create(NODES.map((name) => ({ name, disks: [{}] })), { id: 'ckp' });
    const { plan, joinKey } = planFor(testConfig(NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [h.node(name).disks[0]] }))));
    for (const n of NODES) { h.writeAgentConfig(n, plan, joinKey); h.startAgent(n); }
    wc = new WebConsole(h, 'node1', 'pcckpadmin');
    await wc.install();
    await waitFor('all three agents converged', 240_000, async () => NODES.every((n) => h.snapshot(n)?.converged), 1000)
      .catch((e) => { for (const n of NODES) console.error(`---- ${n}\n${h.logTail(n, 60)}`); throw e; });
    await wc.start();
    page = wc.page;
  }, 400_000);

  afterAll(async () => {
    await wc?.stop();
    await h?.teardown();
    await wc?.removeUser();
  }, 120_000);

  it('logs in with the node\'s PAM, Cockpit lists the page, and it shows 3 nodes up and gv0 healthy', async () => {
    await wc.login();
    // the page is Cockpit's landing page (menu order 5, before System), drawn in the shell's frame
    await page.waitForURL(/\/personal-cloud$/, { timeout: 30_000 });
    await page.getByRole('link', { name: 'Personal Cloud' }).first().waitFor({ timeout: 20_000 });
    const frame = await waitFor('the page in the shell', 30_000, async () => page.frames().find((f) => f.url().includes('/personal-cloud/index.html')));
    await frame.waitForSelector('[data-volume="gv0"].volume-healthy', { timeout: 60_000 });
    await shot('0-in-cockpit');

    // the page on its own from here (its frame's URL): keyboard and layout checks see only it
    await page.goto(wc.pageUrl);
    await page.waitForSelector('[data-volume="gv0"].volume-healthy', { timeout: 60_000 });
    for (const n of NODES) await expect.poll(() => nodeCard(n).getAttribute('class'), { timeout: 30_000 }).toContain('node-up');
    expect(await page.locator('[data-node]').count()).toBe(3);
    expect(await page.textContent('#headline')).toBe('Cluster testcloud is healthy');
    expect(await page.locator('[data-volume="gv0"] tbody tr').count()).toBe(3);
    // every node's agent steps, the leader named
    await nodeCard('node2').locator('summary').click();
    expect(await nodeCard('node2').locator('.step').count()).toBeGreaterThan(5);
    expect(await page.locator('.tag', { hasText: 'leader' }).count()).toBe(1);
    await shot('1-overview');
    expect(wc.errors).toEqual([]);
  }, 180_000);

  it('comes over TLS with the certificate the agent issued from the cluster CA, which the browser checks', async () => {
    // this browser trusts only the cluster CA; Cockpit's own self-signed certificate is also in ws-certs.d
    const res = await page.goto(`${wc.origin}/`);
    const tls = await res!.securityDetails();
    expect(tls).toMatchObject({ issuer: 'testcloud cluster CA', subjectName: 'node1' });
    // the fingerprint status names (cockpit step) is the one served
    const detail = h.snapshot('node1')!.steps.find((st) => st.name === 'cockpit')!.detail;
    const served = await h.on('node1', 'sh', ['-c', `openssl s_client -connect 127.0.0.1:9090 -servername ${wc.fqdn} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`]);
    expect(detail).toBe(`https://${wc.fqdn}:9090/ certificate sha256 ${served.stdout.trim().split('=')[1]}`);
    // a browser that does not trust the cluster CA is refused, so the check above is the browser's own
    const untrusting = await wc.launch('nothing');
    try {
      await expect((await untrusting.newPage()).goto(`${wc.origin}/`)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
    } finally { await untrusting.close(); }
    await page.goto(wc.pageUrl);
    await page.waitForSelector('[data-volume="gv0"].volume-healthy', { timeout: 60_000 });
    await page.waitForSelector('[data-volume="gv0"] .space', { timeout: 90_000 });
    expect(await page.textContent('[data-volume="gv0"] .space')).toMatch(/^\d+\.\d (MiB|GiB) free of \d+\.\d (MiB|GiB)$/);
    expect(wc.errors).toEqual([]);
  }, 150_000);

  it('is usable at 390 px (no sideways scrolling) and every control is reachable by keyboard', async () => {
    expect(await wc.overflowAt(390)).toBe(0);
    await shot('2-phone');
    const { controls, missed } = await wc.keyboardMisses('main button, main a[href], main select, main summary');
    expect(controls).toBeGreaterThanOrEqual(3);
    expect(missed).toEqual([]);
    // a summary opens with the keyboard
    await page.locator('[data-node="node3"] summary').focus();
    await page.keyboard.press('Enter');
    expect(await nodeCard('node3').locator('details').getAttribute('open')).not.toBeNull();
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(wc.errors).toEqual([]);
  }, 60_000);

  it('shows a killed node down within 10 s, with why, and the cluster degraded', async () => {
    const killedAt = Date.now();
    await h.killNode('node3');
    await page.waitForSelector('[data-node="node3"].node-down', { timeout: 10_000 });
    console.log(`node3 shown down ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
    expect(await nodeCard('node3').locator('.why').textContent()).toMatch(/not running|does not answer|disconnected/);
    await page.waitForSelector('.summary.verdict-degraded', { timeout: 30_000 });
    expect(await page.textContent('#headline')).toMatch(/^Cluster testcloud: \d+ problems?$/);
    expect(await page.locator('.problems li', { hasText: 'node3 is down' }).count()).toBe(1);
    await page.waitForSelector('[data-volume="gv0"].volume-degraded', { timeout: 30_000 });
    await shot('3-node3-down');
    expect(wc.errors).toEqual([]);
  }, 60_000);

  it('says so clearly when node1\'s own agent is down, and recovers when it is back', async () => {
    await h.stopAgent('node1');
    await page.waitForSelector('#banner:not([hidden])', { timeout: 15_000 });
    expect(await page.textContent('#banner')).toMatch(/last saved status: the agent on node1 is not answering/);
    expect(await page.textContent('#headline')).toBe('The agent on node1 is not answering');
    await shot('4-local-agent-down');
    h.startAgent('node1');
    await page.waitForSelector('#banner[hidden]', { state: 'attached', timeout: 60_000 });
    expect(await nodeCard('node1').getAttribute('class')).toContain('node-up');
    expect(wc.errors).toEqual([]);
  }, 120_000);
});
