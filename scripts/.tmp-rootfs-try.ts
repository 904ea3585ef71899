import { loadConfig } from '/work/main/src/config/load.js';
import { plan as makePlan } from '/work/main/src/plan/plan.js';
import { ensureRootfs, defaultCacheDir } from '/work/main/src/disk/rootfs.js';
import { createProgress } from '/work/main/src/util/progress.js';
const { config } = await loadConfig('/work/main/test/fixtures/e2e/cluster.yaml');
const p = makePlan(config);
const t = Date.now();
const r = await ensureRootfs(p, defaultCacheDir(), createProgress());
console.log(JSON.stringify(r), (Date.now() - t) / 1000);
