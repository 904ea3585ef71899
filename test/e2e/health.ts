// What "healthy" means for the e2e run, and per-step times from the agents' journals.
import type { NodeAnswer } from '../../src/commands/status.js';

/**
 * Empty when every node answers and is converged, gv0 is started with a brick on every node and
 * mounted everywhere. Steps named in `ignore` (e.g. ha, judged on its own) may still be pending.
 */
export function healthProblems(answers: NodeAnswer[], nodes: string[], volume = 'gv0', ignore: string[] = []): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    const a = answers.find((x) => x.node === n);
    if (!a) { out.push(`${n}: no answer`); continue; }
    if (!a.ok) { out.push(`${n}: ${a.error?.split('\n')[0].slice(0, 80)}`); continue; }
    const s = a.status!;
    const pending = s.steps.filter((st) => st.state !== 'done' && !ignore.includes(st.name));
    if (!s.converged && (pending.length || !ignore.length)) {
      out.push(`${n}: converging [${pending.map((st) => `${st.name}=${st.state}${st.detail ? ` (${st.detail.slice(0, 60)})` : ''}`).join(', ')}]`);
      continue;
    }
    const v = s.volumes.find((x) => x.name === volume);
    if (!v?.exists || !v.started) { out.push(`${n}: ${volume} not started`); continue; }
    const missing = nodes.filter((m) => !v.bricks.some((b) => b.startsWith(`${m}:`) || b.startsWith(`${m}.`)));
    if (missing.length) out.push(`${n}: ${volume} has no brick on ${missing.join(', ')} (bricks: ${v.bricks.join(' ')})`);
    if (!v.mounted) out.push(`${n}: ${volume} not mounted`);
  }
  return out;
}

export interface StepTimes {
  /** seconds after power-on of the agent's first start */
  agentStart?: number;
  /** first time each step was logged done, seconds after power-on */
  stepDone: Record<string, number>;
  restarts: number;
}

/** Parses `journalctl -o short-unix` of personal-cloud-agent.service. */
export function stepTimesFromJournal(journal: string, powerOnUnix: number): StepTimes {
  const out: StepTimes = { stepDone: {}, restarts: 0 };
  for (const line of journal.split('\n')) {
    const m = /^(\d+\.\d+)\s+\S+\s+[^:]+:\s+(.*)$/.exec(line);
    if (!m) continue;
    const t = Number(m[1]) - powerOnUnix;
    const msg = m[2];
    if (/personal-cloud-agent: node \S+ of cluster/.test(msg)) {
      if (out.agentStart === undefined) out.agentStart = t; else out.restarts++;
    }
    const d = /step (\S+): done/.exec(msg);
    if (d && out.stepDone[d[1]] === undefined) out.stepDone[d[1]] = t;
  }
  return out;
}
