// Mounting an fstab entry. Under systemd the mount is started as its .mount unit, so FUSE
// client daemons live in the mount's own cgroup and not in the agent service's (which
// systemd would kill on an agent restart).
import { existsSync } from 'node:fs';
import { run } from './exec.js';

export async function mountFromFstab(mountPoint: string): Promise<void> {
  if (existsSync('/run/systemd/system')) {
    await run('systemctl', ['daemon-reload']);
    const unit = (await run('systemd-escape', ['--path', '--suffix=mount', mountPoint])).stdout.trim();
    await run('systemctl', ['start', unit], { timeoutMs: 90_000 });
    return;
  }
  await run('mount', [mountPoint], { timeoutMs: 60_000 });
}
