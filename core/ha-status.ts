// What an agent reports about the HA stack (corosync, qnetd, Pacemaker, VMs): the agent fills it,
// both CLIs print it (ha-format.ts).
import type { VmInfo } from './vm-types.js';

export interface PcmkNode { name: string; online: boolean; standby: boolean; unclean: boolean }
export interface PcmkResource { id: string; agent: string; role: string; active: boolean; failed: boolean; nodes: string[]; targetRole?: string }
export interface PcmkState { dc: string | null; quorate: boolean; nodes: PcmkNode[]; resources: PcmkResource[]; fencing: { target: string; action: string; status: string; completed?: string }[] }
export interface QnetdClient { cluster: string; nodeId: number; address?: string; vote?: string }

export interface HaStatus {
  node: string;
  enabled: boolean;
  corosync: { running: boolean; quorate?: boolean; expectedVotes?: number; totalVotes?: number; members?: string[]; qdevice?: QdeviceVote; error?: string };
  /** On the node running corosync-qnetd (ha.qdevice names it): the members connected and their votes. */
  qnetd?: { running: boolean; clients?: QnetdClient[]; error?: string };
  pacemaker: (PcmkState & { ok: true }) | { ok: false; error: string };
  vms: VmInfo[];
}

/** The quorum device's vote as corosync-quorumtool shows it, plus corosync-qdevice-tool's connection state. */
export interface QdeviceVote { votes: number; state?: string; host?: string }
