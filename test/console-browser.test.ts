// The web console in a real browser: Debian's chromium (driven by playwright-core) logs in to a
// real cockpit-ws + cockpit-bridge running inside node1 of a three-node namespace cluster (real
// agents, real glusterd), as a sudo-capable user made for the test, and opens the "Personal
// Cloud" page installed where a node has it (/usr/share/cockpit/personal-cloud, the built page).
// Chromium runs in node1's network namespace: all traffic stays on node1's loopback.
// Screenshots of each state: /tmp/pc-cockpit-shots.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_WRAPPER, COCKPIT_PAGE_DIR } from '../core/paths.js';
import { cliWrapper } from '../core/vm-cli.js';
import { BASE, Harness } from './harness/cluster.js';
import { planFor, testConfig } from './harness/plan.js';
import { sh, waitFor } from './harness/sh.js';

const NODES = ['node1', 'node2', 'node3'];
const USER = 'pcckpadmin';
const PORT = 9090;
const SHOTS = '/tmp/pc-cockpit-shots';
const CHROMIUM = '/usr/bin/chromium';
const COCKPIT_WS = '/usr/lib/cockpit/cockpit-ws';
const PAGE_URL = `http://127.0.0.1:${PORT}/cockpit/@localhost/personal-cloud/index.html`;
const DIST = join(import.meta.dirname, '..', 'dist/console');

let h: Harness;
let ws: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page;
const password = randomBytes(18).toString('base64url');
const consoleErrors: string[] = [];

async function prerequisites(): Promise<void> {
  const missing = [CHROMIUM, COCKPIT_WS, '/usr/bin/cockpit-bridge', '/usr/bin/sudo', join(DIST, 'console.js')].filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`web console test prerequisites missing: ${missing.join(', ')} (scripts/deps.sh test installs chromium cockpit-ws cockpit-bridge cockpit-system sudo; npm run build makes dist/console)`);
}

/** Mounts `dir` over `target` inside node1 (an overlay: the host's files stay visible beneath). */
async function overlayOnNode1(dir: string, target: string): Promise<void> {
  await h.on('node1', 'mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}:${target}`, target]);
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const nodeCard = (n: string) => page.locator(`[data-node="${n}"]`);

describe('web console in a real browser', () => {
  beforeAll(async () => {
    await prerequisites();
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    h = await Harness.create(NODES.map((name) => ({ name, disks: [{}] })), { id: 'ckp' });
    const { plan, joinKey } = planFor(testConfig(NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [h.node(name).disks[0]] }))));
    for (const n of NODES) { h.writeAgentConfig(n, plan, joinKey); h.startAgent(n); }

    // node1 as installed: the page in Cockpit's folder, and the `personal-cloud` command the agent writes
    const pageRoot = join(BASE, 'cockpit-share');
    cpSync(DIST, join(pageRoot, COCKPIT_PAGE_DIR.split('/').pop()!), { recursive: true });
    await overlayOnNode1(pageRoot, '/usr/share/cockpit');
    const sbin = join(BASE, 'node1-sbin');
    mkdirSync(sbin, { recursive: true });
    writeFileSync(join(sbin, CLI_WRAPPER.split('/').pop()!), cliWrapper(h.agentPath), { mode: 0o755 });
    await overlayOnNode1(sbin, '/usr/local/sbin');

    // the admin user of a node: in group sudo, Cockpit login with a password (never logged)
    await sh('userdel', ['-r', USER], { allowFail: true });
    await sh('useradd', ['-m', '-G', 'sudo', '-s', '/bin/bash', USER]);
    await sh('chpasswd', [], { input: `${USER}:${password}\n` });

    await waitFor('all three agents converged', 240_000, async () => NODES.every((n) => h.snapshot(n)?.converged), 1000)
      .catch((e) => { for (const n of NODES) console.error(`---- ${n}\n${h.logTail(n, 60)}`); throw e; });

    ws = spawn('nsenter', [...h.nsenterArgs('node1'), COCKPIT_WS, '--no-tls', '--port', String(PORT), '--address', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    ws.stderr!.on('data', (d: Buffer) => { if (/error|critical/i.test(String(d))) console.error(`cockpit-ws: ${String(d).trim()}`); });
    await waitFor('cockpit-ws answering in node1', 20_000, async () => (await h.on('node1', 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${PORT}/`], { allowFail: true })).stdout === '200');

    // chromium in node1's network namespace (playwright talks to it over a pipe, not the network)
    const wrapper = join(BASE, 'chromium-node1');
    writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${h.node('node1').netns} -- ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => { if (m.type() === 'error' && m.location().url.includes('/personal-cloud/')) consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
  }, 400_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    ws?.kill('SIGTERM');
    await h?.teardown();
    // the session's processes lived in node1's namespace (gone with it); then the user
    await sh('userdel', ['-r', USER], { allowFail: true });
  }, 120_000);

  it('logs in with the node\'s PAM, Cockpit lists the page, and it shows 3 nodes up and gv0 healthy', async () => {
    await page.goto(`http://127.0.0.1:${PORT}/`);
    // a user who switched on "Administrative access" before (Cockpit remembers it per user)
    await page.evaluate((u) => localStorage.setItem(`superuser:${u}`, 'any'), USER);
    await page.fill('#login-user-input', USER);
    await page.fill('#login-password-input', password);
    await page.click('#login-button');
    // the page is Cockpit's landing page (menu order 5, before System), drawn in the shell's frame
    await page.waitForURL(/\/personal-cloud$/, { timeout: 30_000 });
    await page.getByRole('link', { name: 'Personal Cloud' }).first().waitFor({ timeout: 20_000 });
    const frame = await waitFor('the page in the shell', 30_000, async () => page.frames().find((f) => f.url().endsWith('/personal-cloud/index.html')));
    await frame.waitForSelector('[data-volume="gv0"].volume-healthy', { timeout: 60_000 });
    await shot('0-in-cockpit');

    // the page on its own from here (its frame's URL): keyboard and layout checks see only it
    await page.goto(PAGE_URL);
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
    expect(consoleErrors).toEqual([]);
  }, 180_000);

  it('is usable at 390 px (no sideways scrolling) and every control is reachable by keyboard', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot('2-phone');
    const controls = await page.locator('main button, main a[href], main select, main summary').evaluateAll((els) => els.map((e) => e.outerHTML.slice(0, 80)));
    expect(controls.length).toBeGreaterThanOrEqual(3);
    const reached = new Set<string>();
    await page.locator('body').focus();
    for (let i = 0; i < controls.length * 2 + 5; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 80) ?? ''));
    }
    expect(controls.filter((c) => !reached.has(c))).toEqual([]);
    // a summary opens with the keyboard
    await page.locator('[data-node="node3"] summary').focus();
    await page.keyboard.press('Enter');
    expect(await nodeCard('node3').locator('details').getAttribute('open')).not.toBeNull();
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(consoleErrors).toEqual([]);
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
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it('says so clearly when node1\'s own agent is down, and recovers when it is back', async () => {
    await h.stopAgent('node1');
    await page.waitForSelector('#banner:not([hidden])', { timeout: 15_000 });
    expect(await page.textContent('#banner')).toMatch(/last saved status: the agent on node1 is not answering/);
    expect(await page.textContent('#headline')).toBe('The agent on node1 is not answering');
    await shot('4-local-agent-down');
    h.startAgent('node1');
    await page.waitForSelector('#banner[hidden]', { timeout: 60_000 });
    expect(await nodeCard('node1').getAttribute('class')).toContain('node-up');
    expect(consoleErrors).toEqual([]);
  }, 120_000);
});
