// Ctrl-C / SIGTERM during an e2e run: stop what the run started before exiting.
import { execFileSync } from 'node:child_process';
import type { DiskVm } from '../helpers/qemu-disk.js';
import type { PrivateNet } from './netns.js';

export interface RunParts {
  /** A running image build; its own teardown unmounts and detaches what it holds. */
  builder?: { kill(signal: NodeJS.Signals): unknown };
  vms: DiskVm[];
  net?: PrivateNet;
}

/** `parts` is read when the signal comes, so it sees what the run has started by then. */
export function stopOnInterrupt(parts: () => RunParts, say: (m: string) => void): void {
  const onSignal = () => {
    const { builder, vms, net } = parts();
    builder?.kill('SIGTERM');
    for (const vm of vms) void vm.stop();
    if (net) execFileSync('ip', ['netns', 'del', net.ns], { stdio: 'ignore' });
    say('interrupted: VMs stopped, namespace removed');
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
