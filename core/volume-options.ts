// The Gluster options the agents set on the replicated volumes (gv0 VM disks, gv1 backups): the one
// list, each with why it is there — a safety reason (quorum, TLS, ownership, failover) or a figure of
// `make bench-storage` (3 nodes, fio direct=1 on the FUSE mount; "+x%" = with the option vs without).
// A key not listed here is left at glusterd's default. test/volume-options.test.ts holds the agent
// to exactly this list. Dropped from Gluster's `virt` group (which the agent applied whole before):
// cluster.choose-local=off (on vs off within noise), cluster.eager-lock (already the default),
// performance.low-prio-threads=32 and user.cifs=off (no measured effect; no Samba here).
// features.shard-block-size stays at the default 64MB: 256MB gained 4k random reads at qd32 but
// lost 1M sequential reads/writes and random writes.
// Measured and not adopted (medians of 3 interleaved runs, each against a copy of gv0 next to it):
// cluster.locking-scheme=full (0.82-1.15 of granular, within the spread of a plain copy of gv0,
// 0.87-1.09). The how-to volume led ours on 4k random read qd32 and random writes in the single,
// sequential runs of the first bench (how-to measured last); interleaved, at 3 nodes ours leads it
// on random writes by 1.13-1.50x in three runs, and the random-read qd32 gap was client-io-threads
// (below). Final runs with this list, ours over how-to by median: 3 nodes 1.35 1.43 1.39 1.19 1.20
// 1.29 but 1M seq read 0.94; 6 nodes 1.13 1.04 1.27 1.51 1.34 1.11 but 4k random write qd1 0.88
// (both inside the runs' min-max spread).
import { LIBVIRT_QEMU_ID } from './ids.js';

export interface VolumeOption { value: string; why: string }

export const VM_VOLUME_OPTIONS: Record<string, VolumeOption> = {
  'storage.owner-uid': { value: String(LIBVIRT_QEMU_ID), why: 'ownership: libvirt-qemu owns the volume root, as the how-to sets it' },
  'storage.owner-gid': { value: String(LIBVIRT_QEMU_ID), why: 'ownership: libvirt-qemu owns the volume root, as the how-to sets it' },
  'features.shard': { value: 'on', why: 'the how-to sets it; a heal copies the changed shards of a VM image, not the whole image, and the image is spread over every replica set' },
  'cluster.quorum-type': { value: 'auto', why: 'safety: no write without a majority of a replica set (no split brain)' },
  'cluster.server-quorum-type': { value: 'server', why: 'safety: a node cut off from the pool majority stops its bricks' },
  // failover (make bench-ha, partition fault, 3 nodes): a node that lost its network or power sends
  // no FIN or RST, so only a timeout ends its connections. With the virt group's values alone
  // (ping-timeout 20, server.tcp-user-timeout 20, keepalive 10 s + 5 x 2 s) survivors' writes to gv0
  // stalled 22-37 s and the VM's start on a survivor hung on gv0 until the ping timer fired: the
  // guest ran 50 s after the partition, or never (the hung read of its config failed, VirtualDomain
  // said 'not installed', a hard error on every survivor). With the kernel's TCP timers below: a
  // 3.3 s stall, the guest ran 9.3-9.8 s after the fault. Those timers are answered by the peer's
  // kernel, not by glusterfsd, so a node too busy to schedule its bricks is not cut off
  // (test/ha-failover.test.ts, 60 s of every CPU busy: no disconnect).
  'network.ping-timeout': { value: '20', why: 'failover: answered by the brick process, so a short value drops bricks that are merely slow; it still catches a hung brick whose kernel keeps acknowledging (a silent peer is dropped by the TCP timers below)' },
  'client.tcp-user-timeout': { value: '3', why: 'failover: a write or lookup to a silent brick fails over to the other replicas after 3 s, not 20 (measured above)' },
  'server.tcp-user-timeout': { value: '3', why: 'failover: a brick drops a silent client, and the locks it held on VM images, after 3 s of unacknowledged data (measured above)' },
  'server.keepalive-time': { value: '2', why: 'failover: a brick with nothing to send to a silent client probes it after 2 s idle (measured above)' },
  'server.keepalive-interval': { value: '1', why: 'failover: probes 1 s apart; with the user timeout a silent client is dropped in ~3 s (measured above)' },
  'server.keepalive-count': { value: '5', why: 'failover: the virt group\'s value, measured with the timers above (the user timeout ends the probing first)' },
  'client.keepalive-time': { value: '2', why: 'failover: an idle client probes a silent brick after 2 s (measured above)' },
  'client.keepalive-interval': { value: '1', why: 'failover: probes 1 s apart (measured above)' },
  // bench-storage 2026-12-07, 3 nodes, each "+x%" the change of MB/s when the option is turned the other way
  'network.remote-dio': { value: 'enable', why: 'measured: with strict-o-direct off, 4k random write qd1 2.2x, qd32 +23%, 1M seq write +14%; at 6 nodes (3 clients) disable costs 4k random read qd32 -35%, random write qd1 -16%, gains 1M seq write +13%; medians of 3 interleaved runs (3 nodes): disable costs every profile, 1M seq write/read -44%/-43%, 4k random read -26%/-33%, random write -27%/-24%, mixed -15% (the O_DIRECT flag stays on the client; a guest flush still reaches every brick as fsync, and cache=none guests flush)' },
  'performance.strict-o-direct': { value: 'off', why: 'measured with remote-dio enable (above); with both at their old values ours trailed the how-to volume on 4k random writes by 40%' },
  'performance.quick-read': { value: 'off', why: 'measured: the three read caches on cost 4k random read qd1 -32%, 1M seq read -22%, random write -20% (VM images are read with O_DIRECT; the cache is the guest\'s)' },
  'performance.read-ahead': { value: 'off', why: 'measured with quick-read (above): read caches on cost 20-30%' },
  'performance.io-cache': { value: 'off', why: 'measured with quick-read (above): read caches on cost 20-30%' },
  // bench-storage --runs 3 (interleaved, medians), 2026-12-07, 3 nodes: three runs, each with a copy of gv0 with the other value next to it
  'performance.client-io-threads': { value: 'off', why: 'measured (medians of 3 interleaved runs, three times): on costs 4k random read qd32 -12%, -20%, -6%, the one profile where ours trailed the how-to volume (which has it off), and random read qd1 -38%, -2%, -16%; it gains random write qd32 +15%, +6%, +2%; 1M seq read and the mix go either way (0.82-1.25). The io-threads hand-off on the client is one more thread per request on CPUs the FUSE client and bricks already saturate. Set, not left to the default, so a volume made with the virt group (on) is brought back' },
  'client.event-threads': { value: '4', why: 'measured: 2 (the default) costs 1M seq write -23%, seq read -12%, 4k random read qd1 -13%; at 6 nodes 4k random write qd1 -17% (single runs); medians of 3 interleaved runs at 3 nodes: 2 costs 1M seq write/read -8%, random write qd1 -9%, gains 4k random read qd1 +28%, within the runs\' spread elsewhere' },
  'server.event-threads': { value: '4', why: 'measured with client.event-threads (above)' },
  'cluster.locking-scheme': { value: 'granular', why: 'availability: a self-heal locks ranges, not the whole VM image, so the VM keeps writing while its node catches up' },
  'cluster.data-self-heal-algorithm': { value: 'full', why: 'redundancy window: a shard is copied whole instead of checksummed on both sides first (not measured by fio; bench-replace shows the heal rate)' },
  'cluster.shd-max-threads': { value: '8', why: 'redundancy window: 8 shards healed in parallel after a node returns, not 1 (not measured by fio; bench-replace shows the heal rate)' },
  'cluster.shd-wait-qlength': { value: '10000', why: 'redundancy window: with shd-max-threads, the heal queue holds every shard of a large image' },
  'cluster.lookup-optimize': { value: 'off', why: 'safety: with sharded images a lookup of a shard not yet moved by a rebalance (after scale-out) must search every subvolume, not return ENOENT (Gluster\'s virt group turns it off for this)' },
};

/** The options of a replicated volume, without TLS (which names the nodes: tlsVolumeOptions). */
export function vmVolumeOptions(): Record<string, string> {
  return Object.fromEntries(Object.entries(VM_VOLUME_OPTIONS).map(([k, o]) => [k, o.value]));
}

/** Safety: TLS on the I/O path both ways, and only the cluster's nodes (certificate CN) may connect. */
export function tlsVolumeOptions(nodeNames: string[]): Record<string, string> {
  return { 'client.ssl': 'on', 'server.ssl': 'on', 'auth.ssl-allow': [...nodeNames].sort().join(',') };
}
