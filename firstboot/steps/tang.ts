// tang on every node (encryption.peers): the other nodes' bricks are bound to it. Debian's
// socket-activated tangd (tangd.socket, one tangd per connection) listens on this node's
// cluster address only, at TANG_PORT (a drop-in replaces the packaged port 80). Its keys are
// made once, at first boot, and kept in /var/lib/tang on the OS disk: a reboot keeps them, a
// reinstall makes new ones — the peers then find their shares stale (core/clevis-binding.ts)
// and rebind. Peers read this node's advertisement through the agent channel (`tang-adv`), so
// the join key vouches for the keys they bind to, not plain HTTP.
import { readdir } from 'node:fs/promises';
import { TANG_PORT, type TangAdv } from '../../core/encryption-policy.js';
import { run, spawnDetached } from '../exec.js';
import { readText, writeDurable } from '../fsx.js';
import { underSystemd } from '../ha/procs.js';
import { log } from '../log.js';
import { fetchAdv } from '../luks.js';
import { done, todo, type Step } from './step.js';

export const TANG_DIR = '/var/lib/tang';
const TANGD = '/usr/libexec/tangd';
export const TANG_DROPIN = '/etc/systemd/system/tangd.socket.d/personal-cloud.conf';

/** The drop-in: only the cluster address (FreeBind: the socket may come up before the address). */
export const tangDropin = (address: string) => `# personal-cloud: tang for the other nodes' bricks, on the cluster network only\n[Socket]\nListenStream=\nListenStream=${address}:${TANG_PORT}\nFreeBind=yes\n`;

export interface TangSeen {
  /** encryption.peers is set and this node has a static address. */
  wanted: boolean;
  address: string | null;
  /** Thumbprints of the advertised keys (file names in TANG_DIR; rotated-out keys are hidden files). */
  keys: string[];
  /** systemd runs tangd.socket (a real node); without it (the namespace harness) the agent starts the same socket activation itself. */
  systemd: boolean;
  dropin: string | null;
  answers: boolean;
}

export type TangAction = { do: 'keygen' | 'dropin' | 'start' };

/** This node's advertisement from its own tangd (null: it does not answer). */
export const localAdv = (address: string, timeoutMs = 3000): Promise<TangAdv | null> => fetchAdv(`http://${address}:${TANG_PORT}`, timeoutMs);

export const tangStep: Step<TangSeen, TangAction> = {
  name: 'tang',
  loop: 'storage',
  async observe(ctx) {
    const address = ctx.self.network.dhcp ? null : ctx.self.network.address;
    const wanted = Boolean(ctx.plan.cluster.encryption?.peers) && address !== null;
    const systemd = underSystemd();
    if (!wanted) return { wanted, address, keys: [], systemd, dropin: null, answers: false };
    const keys = (await readdir(TANG_DIR).catch(() => [] as string[])).filter((f) => f.endsWith('.jwk') && !f.startsWith('.')).map((f) => f.slice(0, -4)).sort();
    return { wanted, address, keys, systemd, dropin: systemd ? await readText(TANG_DROPIN) : null, answers: (await localAdv(address!)) !== null };
  },
  plan(_ctx, seen) {
    if (!seen.wanted) return done('not used (no encryption.peers)');
    const actions: TangAction[] = [];
    if (seen.keys.length === 0) actions.push({ do: 'keygen' });
    if (seen.systemd && seen.dropin !== tangDropin(seen.address!)) actions.push({ do: 'dropin' });
    if (actions.length || !seen.answers) actions.push({ do: 'start' });
    if (actions.length) return todo(actions, seen.keys.length ? `tang on ${seen.address}:${TANG_PORT} to (re)start` : 'tang keys to make (first boot)');
    return done(`tang on ${seen.address}:${TANG_PORT}, keys ${seen.keys.map((k) => k.slice(0, 8)).join(', ')}`);
  },
  async apply(_ctx, actions, seen) {
    const address = seen.address!;
    for (const a of actions) {
      if (a.do === 'keygen') {
        await run('/usr/libexec/tangd-keygen', [TANG_DIR]);
        log.info('tang: keys made (kept across reboots; a reinstall makes new ones and the peers rebind)');
      } else if (a.do === 'dropin') {
        await writeDurable(TANG_DROPIN, tangDropin(address), 0o644);
      } else if (seen.systemd) {
        await run('systemctl', ['daemon-reload']);
        await run('systemctl', ['enable', 'tangd.socket']);
        await run('systemctl', ['restart', 'tangd.socket']);
      } else {
        // no systemd (the namespace harness): the same socket activation, one tangd per connection
        spawnDetached('systemd-socket-activate', ['--inetd', '--accept', '-l', `${address}:${TANG_PORT}`, TANGD, TANG_DIR]);
      }
    }
  },
};
