import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { EXIT, UserError } from '../../core/errors.js';
import { broadcastOf, probeDhcp } from '../pxe/dhcp-probe.js';
import { networkOf, renderDnsmasqConf, type DnsmasqOptions } from '../pxe/dnsmasq.js';
import { ClientTable, parseDnsmasqLine } from '../pxe/dnsmasq-log.js';
import { createPxeHttpServer } from '../pxe/http-server.js';
import { STATE_FILE } from '../pxe/layout.js';
import { findNode, readState, setInstalled, stampServerAddress, type PxeState } from '../pxe/state.js';
import { parseCommandArgs, type Command } from './command.js';

const HELP = `Usage: personal-cloud serve [options]

Serves a PXE tree made by \`personal-cloud build pxe\`: runs dnsmasq (DHCP for network boot +
TFTP) and an HTTP server for the tree, shows which machine asked for what, stops on Ctrl-C.
A machine listed in cluster.yaml boots its own unattended install; once it has installed it
reports so and its next network boot goes to its local disk. Other machines get a menu whose
default is the local disk.

Options:
  -o, --out DIR          the PXE tree (default: ./out)
  -i, --interface IF     serve on this network interface only (required with --dhcp full)
      --dhcp MODE        proxy (default): next to the network's own DHCP server, which keeps
                         handing out addresses; full: be the DHCP server (isolated network only)
      --range START,END  --dhcp full: addresses for machines not in cluster.yaml (default: none,
                         only the cluster's machines get one — their own address)
      --force-dhcp       --dhcp full even though another DHCP server answers on the network
      --http-port N      HTTP port (default: the one the tree was built for, 8470)
      --reinstall NODE   make NODE's next network boot reinstall it, then exit
      --installed NODE   make NODE's next network boot go to its local disk, then exit
  -h, --help             this help

Needs root (DHCP and TFTP ports) and the dnsmasq package.
Exit codes: 0 ok (stopped by Ctrl-C), 2 usage, 5 dnsmasq missing or failed, 6 refused (another DHCP server).
`;

interface IfaceAddress { address: string; prefix: number }

/** From `ip`: Node lists only interfaces that are up with carrier, and a bridge may have none yet. */
async function interfaceAddress(name: string): Promise<IfaceAddress> {
  const r = await execa('ip', ['-j', '-4', 'addr', 'show', 'dev', name], { reject: false });
  if (r.exitCode !== 0) throw new UserError(`serve: no network interface '${name}' (have: ${Object.keys(networkInterfaces()).join(', ')})`, EXIT.usage);
  const info = (JSON.parse(String(r.stdout) || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[])[0]?.addr_info?.[0];
  if (!info) throw new UserError(`serve: interface '${name}' has no IPv4 address: give it one on the PXE network first`, EXIT.usage);
  return { address: info.local, prefix: info.prefixlen };
}

function localAddressIn(network: string, prefix: number): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && networkOf(a.address, prefix) === network) return a.address;
  }
  return undefined;
}

async function ownerName(path: string): Promise<string> {
  const { uid } = await stat(path);
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const line = passwd.split('\n').find((l) => l.split(':')[2] === String(uid));
  return line?.split(':')[0] ?? 'root';
}

function parseRange(raw: string): { start: string; end: string } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}),(\d{1,3}(?:\.\d{1,3}){3})$/.exec(raw);
  if (!m) throw new UserError(`serve: --range must be START,END (two IPv4 addresses), got '${raw}'`, EXIT.usage);
  return { start: m[1], end: m[2] };
}

async function loadTree(out: string): Promise<PxeState> {
  const state = await readState(out);
  if (!state) throw new UserError(`${out} is not a PXE tree (no ${STATE_FILE})`, EXIT.usage, `build one with \`personal-cloud build pxe --out ${out}\``);
  return state;
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a PXE tree: dnsmasq (proxy or full DHCP + TFTP) and HTTP',
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(this, argv, {
      out: { type: 'string', short: 'o' },
      interface: { type: 'string', short: 'i' },
      dhcp: { type: 'string' },
      range: { type: 'string' },
      'force-dhcp': { type: 'boolean' },
      'http-port': { type: 'string' },
      reinstall: { type: 'string' },
      installed: { type: 'string' },
    }, false);
    if (!args) return EXIT.ok;
    const v = args.values;
    const out = resolve(v.out ?? 'out');
    const state = await loadTree(out);

    for (const [flag, installed] of [['reinstall', false], ['installed', true]] as const) {
      const which = v[flag];
      if (!which) continue;
      const found = findNode(state, which);
      if (!found) throw new UserError(`serve --${flag}: no node '${which}' in ${out} (nodes with a MAC: ${Object.keys(state.nodes).join(', ') || 'none'})`, EXIT.usage);
      const changed = await setInstalled(out, state, found[0], installed);
      process.stdout.write(`${found[0]} (${found[1].mac}): next network boot ${installed ? 'goes to the local disk' : 'reinstalls it'}${changed ? '' : ' (unchanged)'}\n`);
      return EXIT.ok;
    }

    const mode = v.dhcp ?? 'proxy';
    if (mode !== 'proxy' && mode !== 'full') throw new UserError(`serve: --dhcp must be proxy or full, got '${mode}'`, EXIT.usage);
    if (mode === 'full' && !v.interface) throw new UserError('serve: --dhcp full needs --interface: never hand out addresses on every network this machine is on', EXIT.usage);
    if (v.range && mode !== 'full') throw new UserError('serve: --range only applies to --dhcp full', EXIT.usage);
    const httpPort = v['http-port'] ? Number(v['http-port']) : state.httpPort;
    if (!Number.isInteger(httpPort) || httpPort < 1 || httpPort > 65535) throw new UserError(`serve: --http-port must be a port number, got '${v['http-port']}'`, EXIT.usage);
    if (httpPort !== state.httpPort) process.stderr.write(`warning: the tree was built for HTTP port ${state.httpPort}; installed nodes report to that port\n`);

    const iface = v.interface ? await interfaceAddress(v.interface) : undefined;
    const net = iface ? { network: networkOf(iface.address, iface.prefix), prefix: iface.prefix } : state.network;
    if (!net) throw new UserError('serve: the cluster has no static addresses, so give --interface to name the PXE network', EXIT.usage);

    if (mode === 'full') {
      const offer = await probeDhcp(broadcastOf(iface!.address, iface!.prefix));
      if (offer && !v['force-dhcp']) {
        throw new UserError(`serve: a DHCP server (${offer.server}) already answers on ${v.interface} (it offered ${offer.offered}); two DHCP servers on one network break it`, EXIT.refused, 'use --dhcp proxy (the default) next to it, or --force-dhcp if you really mean it');
      }
      if (offer) process.stderr.write(`warning: another DHCP server (${offer.server}) answers on ${v.interface}; --force-dhcp given\n`);
    }

    const serverAddress = iface?.address ?? localAddressIn(net.network, net.prefix);
    if (serverAddress) await stampServerAddress(out, serverAddress);
    else process.stderr.write(`warning: no local address in ${net.network}/${net.prefix}: BIOS machines cannot report "installed" (give --interface)\n`);

    const run = await mkdtemp(join(tmpdir(), 'pc-serve-'));
    const options: DnsmasqOptions = {
      tftpRoot: out, mode, ...net, interface: v.interface, user: await ownerName(out),
      pidFile: join(run, 'dnsmasq.pid'), logToStderr: true,
      ...(mode === 'full' ? {
        range: v.range ? parseRange(v.range) : undefined,
        hosts: Object.entries(state.nodes).filter(([, n]) => n.address).map(([name, n]) => ({ mac: n.mac, address: n.address!, name })),
        gateway: state.network?.gateway, dns: state.network?.dns, leaseFile: join(run, 'leases'),
      } : {}),
    };
    const conf = join(run, 'dnsmasq.conf');
    await import('node:fs/promises').then((fs) => fs.writeFile(conf, renderDnsmasqConf(options)));

    const say = (line: string) => process.stdout.write(`serve: ${line}\n`);
    const http = createPxeHttpServer(out, { log: say });
    try {
      await new Promise<void>((ok, fail) => { http.once('error', fail); http.listen(httpPort, () => ok()); });
    } catch (e) {
      await rm(run, { recursive: true, force: true });
      throw new UserError(`serve: cannot listen on HTTP port ${httpPort}: ${(e as Error).message}`, EXIT.failure);
    }

    const dnsmasq = execa('dnsmasq', [`--conf-file=${conf}`], { reject: false, stdin: 'ignore', stdout: 'inherit', stderr: 'pipe' });
    const names = new Map(Object.entries(state.nodes).map(([name, n]) => [n.mac, name]));
    const table = new ClientTable(names);
    createInterface({ input: dnsmasq.stderr! }).on('line', (line) => {
      process.stderr.write(`${line}\n`);
      const ev = parseDnsmasqLine(line);
      const text = ev && table.describe(ev, out);
      if (text) say(text);
    });

    say(`${mode === 'proxy' ? 'proxy-DHCP' : 'DHCP'} + TFTP on ${v.interface ?? 'all interfaces'} (${net.network}/${net.prefix}), HTTP on port ${httpPort}, tree ${out}`);
    for (const [name, n] of Object.entries(state.nodes)) say(`${name} ${n.mac}: ${n.installed ? 'installed — boots its local disk' : 'boots its unattended install'}`);
    say('unknown machines: menu, default local disk. Ctrl-C stops.');

    let stopping = false;
    const stop = () => { if (!stopping) { stopping = true; dnsmasq.kill('SIGTERM'); } };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const result = await dnsmasq;
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await new Promise<void>((ok) => { http.close(() => ok()); http.closeAllConnections(); });
    await rm(run, { recursive: true, force: true });
    if (stopping) { say('stopped'); return EXIT.ok; }
    if ((result as { code?: string }).code === 'ENOENT') throw new UserError("'dnsmasq' is not installed", EXIT.tool, 'apt-get install dnsmasq-base');
    throw new UserError(`serve: dnsmasq exited (${result.exitCode ?? result.signal}) — see its messages above`, EXIT.tool);
  },
};
