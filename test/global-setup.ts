import { execa } from 'execa';

// Tests run the CLI as users do (node bin/personal-cloud.js), so bundle it once first.
export default async function setup(): Promise<void> {
  await execa('node', ['scripts/build.mjs'], { stdio: 'inherit' });
}
