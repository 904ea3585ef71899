// The web console on a harness node, as a node has it: the built page in Cockpit's folder, the
// `personal-cloud` command the agent writes, a real cockpit-ws (no systemd: run by hand, no TLS,
// on the node's loopback) and a sudo-capable admin user made for the test (its password never
// leaves this process). Chromium runs in the node's network namespace, driven by playwright-core
// over a pipe: all traffic stays on the node's loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CLI_WRAPPER, COCKPIT_PAGE_DIR } from '../../core/paths.js';
import { cliWrapper } from '../../core/vm-cli.js';
import { BASE, type Harness } from './cluster.js';
import { sh, waitFor } from './sh.js';

const CHROMIUM = '/usr/bin/chromium';
const COCKPIT_WS = '/usr/lib/cockpit/cockpit-ws';
const DIST = new URL('../../dist/console/', import.meta.url).pathname;
const PORT = 9090;
export const PAGE_URL = `http://127.0.0.1:${PORT}/cockpit/@localhost/personal-cloud/index.html`;

export async function requireWebConsolePrerequisites(): Promise<void> {
  const missing = [CHROMIUM, COCKPIT_WS, '/usr/bin/cockpit-bridge', '/usr/share/cockpit/shell', '/usr/bin/sudo', join(DIST, 'console.js')].filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`web console test prerequisites missing: ${missing.join(', ')} (scripts/deps.sh test installs chromium cockpit-ws cockpit-bridge cockpit-system sudo; npm run build makes dist/console)`);
}

export class WebConsole {
  browser?: Browser;
  page!: Page;
  /** Errors the page logged or threw (its own frame only, not Cockpit's shell). */
  readonly errors: string[] = [];
  private ws?: ChildProcess;
  private readonly password = randomBytes(18).toString('base64url');

  constructor(readonly h: Harness, readonly node: string, readonly user: string) {}

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
  }

  /** cockpit-ws in the node, and chromium in the node's network namespace. */
  async start(): Promise<void> {
    this.ws = spawn('nsenter', [...this.h.nsenterArgs(this.node), COCKPIT_WS, '--no-tls', '--port', String(PORT), '--address', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.ws.stderr!.on('data', (d: Buffer) => { if (/critical|error:/i.test(String(d))) console.error(`cockpit-ws: ${String(d).trim()}`); });
    await waitFor(`cockpit-ws answering in ${this.node}`, 20_000, async () => (await this.h.on(this.node, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${PORT}/`], { allowFail: true })).stdout === '200');
    const wrapper = join(BASE, `chromium-${this.node}`);
    writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${this.h.node(this.node).netns} -- ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    this.browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox'] });
    this.page = await this.browser.newPage({ viewport: { width: 1280, height: 900 } });
    this.page.on('console', (m) => { if (m.type() === 'error' && m.location().url.includes('/personal-cloud/')) this.errors.push(m.text()); });
    this.page.on('pageerror', (e) => this.errors.push(e.message));
  }

  /** Cockpit's login page, as a user who switched on "Administrative access" before (Cockpit remembers it per user). */
  async login(): Promise<void> {
    const p = this.page;
    await p.goto(`http://127.0.0.1:${PORT}/`);
    await p.evaluate((u) => localStorage.setItem(`superuser:${u}`, 'any'), this.user);
    await p.fill('#login-user-input', this.user);
    await p.fill('#login-password-input', this.password);
    await p.click('#login-button');
  }

  async shot(dir: string, name: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    await this.page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
  }

  /** Before the harness teardown (which ends the session's processes with the node); then the user goes. */
  async stop(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    this.ws?.kill('SIGTERM');
  }

  async removeUser(): Promise<void> {
    await sh('userdel', ['-r', this.user], { allowFail: true });
  }
}
