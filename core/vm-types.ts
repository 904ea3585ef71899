// The VM and node requests of the agents' channel: what the CLI sends and the agent answers.

/** Pacemaker's default start/stop/migrate timeout of a VM, seconds (vm create --op-timeout). */
export const VM_OP_TIMEOUT_S = 180;

export interface VmCreate {
  name: string;
  memoryMiB?: number;
  vcpus?: number;
  diskSize?: string; // qemu-img size, e.g. 10G
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  cdrom?: string;
  networks?: string[];
  /** 'qemu' (TCG) where the hosts have no KVM. */
  domainType?: 'kvm' | 'qemu';
  /** Pacemaker's start/stop/migrate timeout in seconds (default VM_OP_TIMEOUT_S). */
  opTimeoutS?: number;
}

export interface VmInfo { name: string; resource: string; role: string; targetRole?: string; nodes: string[]; failed: boolean }

export type VmRequest =
  | { action: 'create'; vm: VmCreate }
  | { action: 'list' }
  | { action: 'start' | 'stop' | 'remove'; name: string; deleteDisk?: boolean }
  | { action: 'migrate'; name: string; node: string };

export type NodeRequest = { action: 'drain' | 'resume'; node: string };
