// `personal-cloud-agent backup-run`: the runner process. Started by the agent for `backup now`
// and by personal-cloud-backup.service (the timer) on every node with --scheduled: then only the
// first online Pacemaker node (by name) runs, so exactly one node backs up per schedule — and
// another takes over when that node is down.
import { loadAgentConfig } from '../../core/agent-config.js';
import { agentEnv } from '../env.js';
import { crmMon } from '../ha/pcmk.js';
import { formatBackup } from '../../core/backup-cli.js';
import { formatProgress } from '../../core/backup-cli.js';
import { backupRun, readRecord, recordPath, writeProm } from './runner.js';
import { stat } from 'node:fs/promises';
import type { AgentPlan } from '../../core/plan-types.js';
import { sweepSnapMounts } from './gluster-snapshot.js';
import { readMarker } from './marker.js';

/** How long a node that does not run the backup waits for the run to begin (the timers' random delay is 5 min). */
const START_WAIT_MS = 10 * 60_000;

/**
 * Rewrites this node's Prometheus textfile from the shared record every 30 s while the runner's
 * marker is there, until the run ended (the record newer than our start and no marker) or none
 * began within START_WAIT_MS.
 */
async function followRun(plan: AgentPlan): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    await writeProm(await readRecord(plan));
    const running = await readMarker(plan);
    const updated = await stat(recordPath(plan)).then((s) => s.mtimeMs > t0, () => false);
    if (!running && (updated || Date.now() - t0 > START_WAIT_MS)) return;
    await new Promise((r) => setTimeout(r, 30_000));
  }
}

const pidAlive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

export async function backupRunCli(argv: string[]): Promise<number> {
  const scheduled = argv.includes('--scheduled');
  const json = argv.includes('--json');
  const vms = argv.filter((a) => !a.startsWith('--'));
  const env = agentEnv();
  const cfg = await loadAgentConfig(env.configDir);
  const self = cfg.node.name;
  if (scheduled) {
    const st = await crmMon();
    const runner = st.nodes.filter((n) => n.online && !n.unclean).map((n) => n.name).sort()[0];
    if (runner !== self) {
      // a runner that died here while another node runs the schedule now: its snapshot mount is only ever cleaned here
      const m = await readMarker(cfg.plan);
      if (!m || m.node !== self || !pidAlive(m.pid)) for (const c of await sweepSnapMounts()) process.stdout.write(`${c}\n`);
      process.stdout.write(`the scheduled backup runs on ${runner ?? 'no node (no online Pacemaker node)'}, not here\n`);
      // every node's node-exporter publishes the backups: this node's .prom follows the runner's record until its run ends
      await followRun(cfg.plan);
      return 0;
    }
  }
  let res;
  try {
    res = await backupRun({ plan: cfg.plan, self, joinKey: cfg.key, agentStateDir: env.stateDir }, vms.length ? vms : undefined, (p) => {
    if (!json) { const l = formatProgress({ node: self, what: '', progress: p }); if (l) process.stderr.write(`${l}\n`); }
  });
  } catch (e) {
    process.stderr.write(`personal-cloud: backup: ${(e as Error).message}\n`); // one line, the agent passes it on
    return 1;
  }
  process.stdout.write(json ? `${JSON.stringify(res)}\n` : formatBackup({ action: 'now', vms }, res));
  return json || (res.results.every((r) => r.ok) && !res.problems.length) ? 0 : 1;
}
