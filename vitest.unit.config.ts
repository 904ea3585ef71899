import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The fast tier (npm run test:unit): tests that need no root, network, namespaces or QEMU —
// plans, goldens, renderers, the agent's decisions. Well under a minute; `npm test` runs them too.
export const UNIT_TESTS = [
  'test/config.test.ts',
  'test/agent-unit.test.ts',
  'test/ha-unit.test.ts',
  'test/step-plans.test.ts',
  'test/import-direction.test.ts',
  'test/disk-files.test.ts',
  'test/render.test.ts',
  'test/preseed.test.ts',
  'test/write-usb.test.ts',
  'test/node-files.test.ts',
  'test/health.test.ts',
  'test/removal-plan.test.ts',
  'test/heal-nudge.test.ts',
  'test/console-view.test.ts',
  'test/volume-options.test.ts',
  'test/encryption-policy.test.ts',
  'test/luks-plan.test.ts',
  'test/backup-unit.test.ts',
];

export default defineConfig({
  test: { ...base.test, include: UNIT_TESTS, exclude: ['**/node_modules/**'], fileParallelism: true },
});
