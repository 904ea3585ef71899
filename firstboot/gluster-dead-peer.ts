// How soon Gluster gives up on a peer that went silent — a node that lost its network or its
// power sends no FIN or RST, so only a timeout ends its connections. Measured with `make bench-ha`
// (partition fault, 3 nodes): with the `virt` group's values alone (network.ping-timeout 20,
// server.tcp-user-timeout 20, keepalive 10 s + 5 × 2 s) the survivors' writes to gv0 stalled
// 22–37 s and the VM's start on a survivor hung on gv0 until the ping timer fired: the guest ran
// 50 s after the partition, or never — in one run the hung lookup of the VM's config then failed
// (ENOTCONN), VirtualDomain returned 'not installed', a hard error, on every survivor. With these
// options: a 3.3 s stall, and the guest ran on a survivor 9.6 s after the partition (fenced at
// 4.1 s; ~5 s of it is the test guest's boot under TCG).
//
// The kernel's TCP timers end such a connection instead: TCP_USER_TIMEOUT closes it when sent
// data stays unacknowledged for that long, and keepalive probes find an idle dead peer. Both are
// answered by the peer's kernel, not by the brick or client process, so a node busy to the point
// of not scheduling glusterfsd for seconds is not cut off (the load test in
// test/ha-failover.test.ts shows it); only a silent network is. network.ping-timeout (20 s, from
// the virt group) stays as it is: it is answered by the process, so a short value would drop
// bricks that are merely slow, and it still catches a hung brick whose kernel keeps acking.
export const DEAD_PEER_OPTIONS: Record<string, string> = {
  // a write or lookup to a silent brick fails over to the other replicas after 3 s (was ≥ 20 s)
  'client.tcp-user-timeout': '3',
  // a brick drops a silent client (and the locks it held on VM images) after 3 s of unacked data…
  'server.tcp-user-timeout': '3',
  // …or, when it has nothing to send to it, after ~2 s idle + probes for the user timeout
  'server.keepalive-time': '2',
  'server.keepalive-interval': '1',
  'client.keepalive-time': '2',
  'client.keepalive-interval': '1',
};
