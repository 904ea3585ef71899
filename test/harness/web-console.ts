// The web console on a harness node, as a node has it: the built page in Cockpit's folder, the
// `personal-cloud` command the agent writes, Cockpit's real TLS chain on the node's loopback and a
// sudo-capable admin user made for the test (its password never leaves this process). No systemd
// here, so the units' work is done by hand: cockpit-certificate-ensure picks the certificate from
// /etc/cockpit/ws-certs.d as cockpit.service does (the agent's, over Cockpit's own self-signed one),
// and systemd-socket-activate hands cockpit-tls its port and cockpit-ws its instance socket.
// Chromium runs in the node's network namespace, driven by playwright-core over a pipe, and trusts
// only the cluster CA (its own NSS database): all traffic stays on the node's loopback.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CLI_WRAPPER, COCKPIT_PAGE_DIR } from '../../core/paths.js';
import { cliWrapper } from '../../core/vm-cli.js';
import { BASE, type Harness } from './cluster.js';
import { TEST_DOMAIN } from './plan.js';
import { sh, waitFor } from './sh.js';

const CHROMIUM = '/usr/bin/chromium';
const COCKPIT = '/usr/lib/cockpit';
const DIST = new URL('../../dist/console/', import.meta.url).pathname;
const PORT = 9090;
/** cockpit-tls hands a browser without a client certificate to the instance named by the sha256 of nothing. */
const NO_CLIENT_CERT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export async function requireWebConsolePrerequisites(): Promise<void> {
  const missing = [CHROMIUM, `${COCKPIT}/cockpit-ws`, `${COCKPIT}/cockpit-tls`, '/usr/bin/systemd-socket-activate', '/usr/bin/certutil', '/usr/bin/cockpit-bridge', '/usr/share/cockpit/shell', '/usr/bin/sudo', join(DIST, 'console.js')]
    .filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`web console test prerequisites missing: ${missing.join(', ')} (scripts/deps.sh test installs chromium cockpit-ws cockpit-bridge cockpit-system sudo libnss3-tools systemd; npm run build makes dist/console)`);
}

export class WebConsole {
  browser?: Browser;
  page!: Page;
  /** Errors the page logged or threw (its own frame only, not Cockpit's shell). */
  readonly errors: string[] = [];
  private readonly daemons: ChildProcess[] = [];
  private readonly password = randomBytes(18).toString('base64url');
  /** The name the node's certificate is issued to: the browser asks for it, the node's loopback answers. */
  readonly fqdn: string;
  readonly origin: string;
  readonly pageUrl: string;

  constructor(readonly h: Harness, readonly node: string, readonly user: string) {
    this.fqdn = `${node}.${TEST_DOMAIN}`;
    this.origin = `https://${this.fqdn}:${PORT}`;
    this.pageUrl = `${this.origin}/cockpit/@localhost/personal-cloud/index.html`;
  }

  /** Mounts `dir` over `target` inside the node (an overlay: the host's files stay visible beneath). */
  private async overlay(dir: string, target: string): Promise<void> {
    await this.h.on(this.node, 'mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}:${target}`, target]);
  }

  /** The page and the CLI in the node, the admin user on the host (PAM is the host's). */
  async install(): Promise<void> {
    const share = join(BASE, `${this.node}-cockpit-share`);
    cpSync(DIST, join(share, COCKPIT_PAGE_DIR.split('/').pop()!), { recursive: true });
    await this.overlay(share, '/usr/share/cockpit');
    const sbin = join(BASE, `${this.node}-sbin`);
    mkdirSync(sbin, { recursive: true });
    writeFileSync(join(sbin, CLI_WRAPPER.split('/').pop()!), cliWrapper(this.h.agentPath), { mode: 0o755 });
    await this.overlay(sbin, '/usr/local/sbin');
    await sh('userdel', ['-r', this.user], { allowFail: true });
    await sh('useradd', ['-m', '-G', 'sudo', '-s', '/bin/bash', this.user]);
    await sh('chpasswd', [], { input: `${this.user}:${this.password}\n` });
    // what installing cockpit leaves on a node: its own self-signed certificate, which ours must beat
    await this.h.on(this.node, `${COCKPIT}/cockpit-certificate-helper`, ['selfsign']);
  }

  /** The cluster CA, as the agents hold it (the state file is root's, mode 0600). */
  clusterCa(): string {
    return (JSON.parse(readFileSync(join(this.h.node(this.node).dir, 'pc-lib', 'ha-secrets.json'), 'utf8')) as { caCert: string }).caCert;
  }

  /** A browser profile home whose NSS database trusts `caPem` (or nothing) for TLS servers. */
  private trustHome(name: string, caPem: string | null): string {
    const home = join(BASE, `chromium-home-${this.node}-${name}`);
    rmSync(home, { recursive: true, force: true });
    const db = join(home, '.pki', 'nssdb');
    mkdirSync(db, { recursive: true });
    execFileSync('certutil', ['-d', `sql:${db}`, '-N', '--empty-password']);
    if (caPem) {
      writeFileSync(join(home, 'ca.pem'), caPem);
      execFileSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'personal-cloud cluster CA', '-i', join(home, 'ca.pem')]);
    }
    return home;
  }

  private daemon(args: string[]): void {
    const p = spawn('nsenter', [...this.h.nsenterArgs(this.node), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => { if (/critical|error:/i.test(String(d))) console.error(`${args[args.length - 1]}: ${String(d).trim()}`); });
    this.daemons.push(p);
  }

  /** Chromium in the node's network namespace with its own trust store; the node's name resolves to its loopback. */
  async launch(trust: 'cluster-ca' | 'nothing'): Promise<Browser> {
    const wrapper = join(BASE, `chromium-${this.node}`);
    writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${this.h.node(this.node).netns} -- ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const home = this.trustHome(trust, trust === 'cluster-ca' ? this.clusterCa() : null);
    return chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', `--host-resolver-rules=MAP ${this.fqdn} 127.0.0.1`], env: { ...process.env, HOME: home } as Record<string, string> });
  }

  /** Cockpit's TLS front (cockpit-tls → cockpit-ws) in the node once the agent's certificate is there, and chromium. */
  async start(): Promise<void> {
    const rt = '/run/cockpit/tls';
    await this.h.on(this.node, 'sh', ['-ec', `mkdir -p /run/cockpit/wsinstance && install -d -m 700 ${rt} && RUNTIME_DIRECTORY=${rt} ${COCKPIT}/cockpit-certificate-ensure --for-cockpit-tls`]);
    for (const sock of [`https@${NO_CLIENT_CERT}.sock`, 'http.sock']) this.daemon(['systemd-socket-activate', '-l', `/run/cockpit/wsinstance/${sock}`, `${COCKPIT}/cockpit-ws`, '--for-tls-proxy', '--port=0']);
    await waitFor('cockpit-ws instance sockets', 10_000, async () => (await this.h.on(this.node, 'test', ['-S', `/run/cockpit/wsinstance/https@${NO_CLIENT_CERT}.sock`], { allowFail: true })).code === 0);
    this.daemon(['systemd-socket-activate', '-E', `RUNTIME_DIRECTORY=${rt}`, '-l', `127.0.0.1:${PORT}`, `${COCKPIT}/cockpit-tls`, '--idle-timeout', '0']);
    // -k: only that it answers; whether its certificate is trusted is the browser's to say
    await waitFor(`cockpit answering over TLS in ${this.node}`, 20_000, async () => (await this.h.on(this.node, 'curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${PORT}/`], { allowFail: true })).stdout === '200');
    this.browser = await this.launch('cluster-ca');
    this.page = await this.browser.newPage({ viewport: { width: 1280, height: 900 } });
    this.page.on('console', (m) => { if (m.type() === 'error' && m.location().url.includes('/personal-cloud/')) this.errors.push(m.text()); });
    this.page.on('pageerror', (e) => this.errors.push(e.message));
  }

  /** Cockpit's login page, as a user who switched on "Administrative access" before (Cockpit remembers it per user). */
  async login(): Promise<void> {
    const p = this.page;
    await p.goto(`${this.origin}/`);
    await p.evaluate((u) => localStorage.setItem(`superuser:${u}`, 'any'), this.user);
    await p.fill('#login-user-input', this.user);
    await p.fill('#login-password-input', this.password);
    await p.click('#login-button');
  }

  /** At `width` px: how far the page scrolls sideways (0 when it fits). */
  async overflowAt(width: number): Promise<number> {
    await this.page.setViewportSize({ width, height: 844 });
    await this.page.waitForTimeout(300);
    return this.page.evaluate((w) => Math.max(0, document.documentElement.scrollWidth - w), width);
  }

  /** Controls (of `selector`, visible) that Tab never reaches, by their opening HTML; and how many there were. */
  async keyboardMisses(selector: string): Promise<{ controls: number; missed: string[] }> {
    const p = this.page;
    const controls = await p.locator(selector).evaluateAll((els) => els.filter((e) => e.checkVisibility()).map((e) => e.outerHTML.slice(0, 80)));
    const reached = new Set<string>();
    await p.locator('body').focus();
    for (let i = 0; i < controls.length * 2 + 5; i++) {
      await p.keyboard.press('Tab');
      reached.add(await p.evaluate(() => document.activeElement?.outerHTML.slice(0, 80) ?? ''));
    }
    return { controls: controls.length, missed: controls.filter((c) => !reached.has(c)) };
  }

  async shot(dir: string, name: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    await this.page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
  }

  /** Before the harness teardown (which ends the session's processes with the node); then the user goes. */
  async stop(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    for (const d of this.daemons) d.kill('SIGTERM');
  }

  async removeUser(): Promise<void> {
    await sh('userdel', ['-r', this.user], { allowFail: true });
  }
}
