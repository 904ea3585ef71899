import { execa } from 'execa';
import { randomBytes } from 'node:crypto';

// An isolated PXE network in network namespaces: SERVER holds a bridge (the PXE network,
// 10.78.0.1/24) with the guest's tap device on it; OTHER is a second host on that bridge (a veth)
// that can play "the DHCP server that was already there". Everything is removed by teardown().

export interface PxeNet {
  server: string;
  other: string;
  bridge: string;
  tap: string;
  teardown(): Promise<void>;
}

const sh = (cmd: string) => execa('sh', ['-ec', cmd]);

export async function createPxeNet(): Promise<PxeNet> {
  const id = randomBytes(3).toString('hex');
  const server = `pcpxe-${id}`;
  const other = `pcpxo-${id}`;
  const net: PxeNet = {
    server, other, bridge: 'br0', tap: 'tap0',
    async teardown() {
      for (const ns of [server, other]) {
        // Processes left in a namespace keep it alive: end them first (only ours live there).
        const pids = await execa('ip', ['netns', 'pids', ns], { reject: false });
        for (const pid of String(pids.stdout).split('\n').filter(Boolean)) await execa('kill', ['-9', pid], { reject: false });
        await execa('ip', ['netns', 'del', ns], { reject: false });
      }
    },
  };
  try {
    await sh(`
      ip netns add ${server}
      ip netns add ${other}
      ip -n ${server} link set lo up
      ip -n ${other} link set lo up
      ip -n ${server} link add br0 type bridge
      ip -n ${server} addr add 10.78.0.1/24 dev br0
      ip -n ${server} link set br0 up
      ip -n ${server} tuntap add tap0 mode tap
      ip -n ${server} link set tap0 master br0 up
      ip -n ${server} link add vsrv type veth peer name voth netns ${other}
      ip -n ${server} link set vsrv master br0 up
      ip -n ${other} addr add 10.78.0.2/24 dev voth
      ip -n ${other} link set voth up
    `);
  } catch (e) {
    await net.teardown();
    throw e;
  }
  return net;
}
