// The VM and node requests of the agents' channel: what the CLI sends and the agent answers.

/** Pacemaker's default start/stop/migrate timeout of a VM, seconds (vm create --op-timeout). */
export const VM_OP_TIMEOUT_S = 180;

/** A VM's name is its domain, resource and folder name: DNS-label-like so all three accept it. */
export const VM_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const VM_NAME_RULE = 'lower-case letters, digits and -, starting with a letter or digit (at most 63)';

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

export interface VmInfo {
  name: string; resource: string; role: string; targetRole?: string; nodes: string[]; failed: boolean;
  /** From the VM's definition (status only; absent when it could not be read). */
  memoryMiB?: number; vcpus?: number;
}

export type VmRequest =
  | { action: 'create'; vm: VmCreate }
  | { action: 'list' }
  | { action: 'start' | 'stop' | 'remove'; name: string; deleteDisk?: boolean }
  | { action: 'migrate'; name: string; node: string };

export type NodeRequest = { action: 'drain' | 'resume'; node: string };
