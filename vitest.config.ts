import { defineConfig } from 'vitest/config';

// The default run (npm test, CI) must fit comfortably in CI's budget on 2 cores. Scenarios
// that take many minutes each run with `npm run test:long` (make test-long), see README.
export const LONG_TESTS = [
  'test/agent-scale.test.ts',
  'test/agent-crash.test.ts',
  'test/agent-remove.test.ts',
  'test/ha-vms.test.ts',
  'test/ha-failover.test.ts',
  'test/ha-remove.test.ts',
  'test/ha-replace.test.ts',
  'test/ha-qdevice.test.ts',
  'test/ha-backup.test.ts',
  'test/console-ha-browser.test.ts',
  'test/pxe.test.ts',
  'test/disk.test.ts',
  'test/e2e/**/*.test.ts',
];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...LONG_TESTS],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Image builds, QEMU guests and namespace clusters are heavy: one file at a time.
    fileParallelism: false,
    reporters: ['default'],
  },
});
