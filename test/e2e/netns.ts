// A private network for the e2e VMs: a bridge inside a network namespace the run creates, one
// tap device per VM on it, and the bridge's own address so that tools run inside the
// namespace (`ip netns exec NS …`) reach the nodes. No route, no veth: nothing else is reachable.
import { execa } from 'execa';

export interface PrivateNet {
  ns: string;
  bridgeAddress: string;
  addTap(name: string): Promise<void>;
  /** argv prefix that runs a command inside the namespace */
  exec(cmd: string[]): string[];
  destroy(): Promise<void>;
}

const ip = (...args: string[]) => execa('ip', args);

export async function createPrivateNet(ns: string, bridgeCidr: string): Promise<PrivateNet> {
  await ip('netns', 'add', ns);
  try {
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', ns, 'addr', 'add', bridgeCidr, 'dev', 'br0');
    await ip('-n', ns, 'link', 'set', 'br0', 'up');
  } catch (e) {
    await ip('netns', 'del', ns).catch(() => undefined);
    throw e;
  }
  return {
    ns,
    bridgeAddress: bridgeCidr.split('/')[0],
    async addTap(name) {
      await ip('-n', ns, 'tuntap', 'add', 'dev', name, 'mode', 'tap');
      await ip('-n', ns, 'link', 'set', name, 'master', 'br0');
      await ip('-n', ns, 'link', 'set', name, 'up');
    },
    exec: (cmd) => ['ip', 'netns', 'exec', ns, ...cmd],
    async destroy() { await ip('netns', 'del', ns).catch(() => undefined); },
  };
}
