// LAN discovery without a server: every agent multicasts a small beacon signed with the join
// key. A beacon only says "an agent for this cluster may be at this address"; admission still
// needs the challenge-response of channel.ts, so a replayed beacon gains nothing.
import { createSocket, type Socket } from 'node:dgram';
import { beaconMac, keyIdOf, macEqual } from '../core/auth.js';
import { log } from './log.js';

export interface Beacon { v: 1; cluster: string; node: string; port: number; keyId: string; t: number }

export interface DiscoveryOptions {
  key: string;
  cluster: string;
  node: string;
  port: number;
  group: string;
  /** Our own address when static: multicast is sent and joined on that interface. */
  localAddress?: string;
  onBeacon(node: string, address: string, port: number): void;
  onForged(address: string, claimed: string, reason: string): void;
}

export function encodeBeacon(key: string, b: Beacon): Buffer {
  const payload = JSON.stringify(b);
  return Buffer.from(JSON.stringify({ payload, mac: beaconMac(key, payload) }));
}

export function decodeBeacon(key: string, msg: Buffer): { beacon?: Beacon; claimed?: string; error?: string } {
  let outer: { payload?: string; mac?: string };
  try { outer = JSON.parse(msg.toString('utf8')); } catch { return { error: 'not a beacon' }; }
  if (typeof outer.payload !== 'string' || typeof outer.mac !== 'string') return { error: 'not a beacon' };
  let b: Beacon;
  try { b = JSON.parse(outer.payload); } catch { return { error: 'not a beacon' }; }
  if (!macEqual(outer.mac, beaconMac(key, outer.payload))) {
    const why = b.keyId && b.keyId !== keyIdOf(key) ? `signed with key id ${b.keyId}, ours is ${keyIdOf(key)} (wrong cluster secret?)` : 'bad signature';
    return { claimed: String(b.node ?? '?'), error: why };
  }
  return { beacon: b };
}

export class Discovery {
  private sock?: Socket;
  private timer?: NodeJS.Timeout;
  private warned = new Map<string, number>();

  constructor(private o: DiscoveryOptions) {}

  start(): Promise<void> {
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    this.sock = sock;
    sock.on('message', (msg, rinfo) => {
      const r = decodeBeacon(this.o.key, msg);
      if (r.beacon) {
        if (r.beacon.cluster === this.o.cluster && r.beacon.node !== this.o.node) this.o.onBeacon(r.beacon.node, rinfo.address, r.beacon.port);
        return;
      }
      if (r.claimed === undefined) return; // unrelated traffic on the group
      const k = `${rinfo.address}|${r.error}`;
      const last = this.warned.get(k) ?? 0;
      if (Date.now() - last > 60_000) { this.warned.set(k, Date.now()); log.warn(`discovery: ignoring beacon from ${rinfo.address} claiming ${r.claimed}: ${r.error}`); }
      this.o.onForged(rinfo.address, r.claimed, r.error ?? 'invalid');
    });
    sock.on('error', (e) => log.warn(`discovery: ${e.message}`));
    return new Promise((resolve) => {
      sock.bind(this.o.port, () => {
        try {
          sock.addMembership(this.o.group, this.o.localAddress);
          if (this.o.localAddress) sock.setMulticastInterface(this.o.localAddress);
          sock.setMulticastTTL(1);
          sock.setMulticastLoopback(false);
        } catch (e) { log.warn(`discovery: multicast unavailable (${(e as Error).message}); using static addresses only`); }
        this.send();
        this.timer = setInterval(() => this.send(), 2000);
        resolve();
      });
    });
  }

  private send(): void {
    const b: Beacon = { v: 1, cluster: this.o.cluster, node: this.o.node, port: this.o.port, keyId: keyIdOf(this.o.key), t: Date.now() };
    this.sock?.send(encodeBeacon(this.o.key, b), this.o.port, this.o.group, (e) => { if (e) log.debug(`discovery: send: ${e.message}`); });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sock?.close();
  }
}
