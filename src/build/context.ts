// What every writer of a command (ISO, PXE tree, disk images, `render`) works from, made once per
// command: the config and its plan, the derived join key, the agent bundle, SOURCE_DATE_EPOCH,
// the cache folder and the manifest inputs they all share.
import { existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ClusterConfig } from '../../core/config-types.js';
import { EXIT, UserError } from '../../core/errors.js';
import type { Plan } from '../../core/plan-types.js';
import { requireNode } from '../../core/plan-nodes.js';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/validate.js';
import { deriveJoinKey } from '../plan/keys.js';
import { plan as makePlan } from '../plan/plan.js';
import { defaultCacheDir } from '../util/cache-dir.js';
import { sha256, sha256File } from '../util/hash.js';
import { projectPath } from '../util/paths.js';
import { TOOL_VERSION } from '../util/version.js';
import type { Manifest, ManifestInput, ManifestOutput } from '../write/manifest.js';

export const AGENT_BUNDLE = 'dist/personal-cloud-agent.mjs';
export const AGENT_UNIT = 'firstboot/personal-cloud-agent.service';
/** The web console's Cockpit page, built by scripts/build.mjs from console/. */
export const CONSOLE_DIR = 'dist/console';
export const CONSOLE_FILES = ['manifest.json', 'index.html', 'console.js', 'console.css'];

export interface AgentBundle {
  script: Buffer;
  unit: Buffer;
  /** The Cockpit page's files by name (COCKPIT_PAGE_DIR on the node). */
  console: { name: string; content: Buffer }[];
}

export function loadAgentBundle(): AgentBundle {
  const script = projectPath(AGENT_BUNDLE);
  const unit = projectPath(AGENT_UNIT);
  const page = CONSOLE_FILES.map((name) => ({ name, path: projectPath(`${CONSOLE_DIR}/${name}`) }));
  for (const f of [script, unit, ...page.map((p) => p.path)]) {
    if (!existsSync(f)) throw new UserError(`the first-boot agent is missing (${f})`, EXIT.failure, 'run `npm run build` in the checkout');
  }
  return { script: readFileSync(script), unit: readFileSync(unit), console: page.map((p) => ({ name: p.name, content: readFileSync(p.path) })) };
}

/** SOURCE_DATE_EPOCH (reproducible builds), else now. */
export function buildEpoch(env = process.env): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return Math.floor(Date.now() / 1000);
  if (!/^\d+$/.test(raw)) throw new UserError(`SOURCE_DATE_EPOCH must be a number of seconds, got '${raw}'`, EXIT.usage);
  return Number(raw);
}

/** What the files of one node are made from (src/render/node-files.ts). */
export interface NodeFilesContext {
  plan: Plan;
  /** The derived join key (hex), never the cluster secret. */
  joinKey: string;
  agent: AgentBundle;
}

export interface BuildContext extends NodeFilesContext {
  configPath: string;
  config: ClusterConfig;
  epoch: number;
  cacheDir: string;
  toolVersion: string;
  /** Inputs every output of the command is made from: cluster.yaml, the agent bundle and the web console page. */
  inputs: ManifestInput[];
}

/** `who` names the command in errors (e.g. "build disk"); `nodes` are checked against the plan. */
export async function loadBuildContext(o: { config?: string; cache?: string; who: string; nodes?: string[] }): Promise<BuildContext> {
  const epoch = buildEpoch();
  const configPath = resolve(o.config ?? 'cluster.yaml');
  const { config, warnings } = await loadConfig(configPath);
  for (const w of warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
  const plan = makePlan(config);
  for (const n of o.nodes ?? []) requireNode(plan, n, o.who, configPath);
  const agent = loadAgentBundle();
  return {
    configPath, config, plan, epoch, agent,
    joinKey: deriveJoinKey(config.secret, config.name),
    cacheDir: o.cache ? resolve(o.cache) : defaultCacheDir(),
    toolVersion: TOOL_VERSION,
    inputs: [
      { name: 'cluster.yaml', sha256: await sha256File(configPath), size: (await stat(configPath)).size },
      { name: AGENT_BUNDLE, sha256: sha256(agent.script), size: agent.script.length },
      ...agent.console.map((f) => ({ name: `${CONSOLE_DIR}/${f.name}`, sha256: sha256(f.content), size: f.content.length })),
    ],
  };
}

/** The manifest of a command's outputs: the context's inputs plus the writer's own (installer, loaders, base tree). */
export function buildManifest(ctx: BuildContext, inputs: ManifestInput[], outputs: ManifestOutput[]): Manifest {
  const { plan } = ctx;
  return {
    tool: { name: 'personal-cloud', version: ctx.toolVersion },
    cluster: plan.cluster.name, release: plan.cluster.release, epoch: ctx.epoch, keyId: plan.cluster.keyId,
    inputs: [...ctx.inputs, ...inputs], outputs,
  };
}
