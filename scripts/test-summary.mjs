// Prints the plain closing line CI reads ("tests: N passed, N failed, N skipped") from
// vitest's JSON report, and exits with the given status of the test run.
import { readFileSync } from 'node:fs';

const [file, status] = process.argv.slice(2);
let r;
try {
  r = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  console.log('tests: 0 passed, 1 failed');
  process.exit(Number(status) || 1);
}
// a suite whose setup failed has no failed test of its own: count it too
const failed = r.numFailedTests > 0 ? r.numFailedTests : (r.numFailedTestSuites ?? 0);
console.log(`tests: ${r.numPassedTests} passed, ${failed} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
process.exit(Number(status) || (r.success ? 0 : 1));
