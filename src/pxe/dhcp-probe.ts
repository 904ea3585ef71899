// Is there already a DHCP server on this network? Sends one DHCPDISCOVER (broadcast flag set,
// to the subnet's broadcast address so the kernel sends it out of that interface) and waits
// for any DHCPOFFER (servers such as dnsmasq ping the address for ~3 s before offering it). Used before `serve` starts full DHCP, which would fight the other server.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

export interface DhcpOffer { server: string; offered: string }

function discover(xid: Buffer, mac: Buffer): Buffer {
  const p = Buffer.alloc(300);
  p[0] = 1; p[1] = 1; p[2] = 6; // BOOTREQUEST, Ethernet, 6-byte address
  xid.copy(p, 4);
  p.writeUInt16BE(0x8000, 10); // broadcast flag: answer to 255.255.255.255, we have no address yet
  mac.copy(p, 28);
  p.writeUInt32BE(0x63825363, 236); // magic cookie
  Buffer.from([53, 1, 1, 55, 3, 1, 3, 6, 255]).copy(p, 240); // DHCPDISCOVER, ask for mask/router/dns
  return p;
}

export function probeDhcp(broadcast: string, timeoutMs = 8000): Promise<DhcpOffer | undefined> {
  const xid = randomBytes(4);
  // A locally administered MAC: no real machine's lease is touched.
  const mac = Buffer.concat([Buffer.from([0x02]), randomBytes(5)]);
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    const done = (v: DhcpOffer | undefined, err?: Error) => { clearTimeout(timer); sock.close(); if (err) reject(err); else resolve(v); };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on('error', (e) => done(undefined, e));
    sock.on('message', (msg, rinfo) => {
      if (msg.length < 240 || msg[0] !== 2 || !msg.subarray(4, 8).equals(xid)) return;
      done({ server: rinfo.address, offered: [...msg.subarray(16, 20)].join('.') });
    });
    sock.bind(68, () => {
      sock.setBroadcast(true);
      sock.send(discover(xid, mac), 67, broadcast, (e) => { if (e) done(undefined, e); });
    });
  });
}

export function broadcastOf(address: string, prefix: number): string {
  const n = address.split('.').map(Number).reduce((a, b) => ((a << 8) | b) >>> 0, 0);
  const host = prefix >= 32 ? 0 : (0xffffffff >>> prefix);
  const b = (n | host) >>> 0;
  return [24, 16, 8, 0].map((s) => (b >>> s) & 0xff).join('.');
}
