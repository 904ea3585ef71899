// dnsmasq configuration for a PXE tree: TFTP from the tree, the boot file chosen by the
// client's architecture (DHCP option 93), and either proxy-DHCP next to the network's own DHCP
// server or full DHCP on an isolated network.
import { BIOS_LOADER, IPXE_SCRIPT, UEFI_LOADER } from './layout.js';

export interface DnsmasqOptions {
  /** Absolute path of the tree (the TFTP root). */
  tftpRoot: string;
  mode: 'proxy' | 'full';
  /** The network the PXE clients are on, e.g. 192.168.1.0 (proxy) — with its prefix length. */
  network: string;
  prefix: number;
  /** full: leases for machines the config does not know ("start,end"); without it only known MACs get one. */
  range?: { start: string; end: string };
  /** full: fixed leases for the cluster's machines. */
  hosts?: { mac: string; address: string; name: string }[];
  /** full: the router and DNS servers handed out. */
  gateway?: string;
  dns?: string[];
  interface?: string;
  /** Run as this user (the tree's owner: it holds files of mode 0600). */
  user?: string;
  /** Where dnsmasq writes its leases (full mode). */
  leaseFile?: string;
  pidFile?: string;
  /** Log to stderr instead of syslog (serve shows it on the terminal). */
  logToStderr?: boolean;
}

export function prefixToNetmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

export function networkOf(address: string, prefix: number): string {
  const n = address.split('.').map(Number).reduce((a, b) => ((a << 8) | b) >>> 0, 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (net >>> s) & 0xff).join('.');
}

export function renderDnsmasqConf(o: DnsmasqOptions): string {
  const netmask = prefixToNetmask(o.prefix);
  const l: string[] = [
    `# personal-cloud PXE: ${o.mode === 'proxy' ? 'proxy-DHCP next to the network\'s own DHCP server' : 'full DHCP (isolated network only)'} + TFTP`,
    '# Check: dnsmasq --test --conf-file=THIS_FILE',
    'port=0', // no DNS service: only DHCP/PXE and TFTP
    'bind-dynamic',
    ...(o.interface ? [`interface=${o.interface}`] : []),
    ...(o.user ? [`user=${o.user}`] : []),
    ...(o.pidFile ? [`pid-file=${o.pidFile}`] : []),
    ...(o.logToStderr ? ['log-facility=-', 'keep-in-foreground'] : []),
    'log-dhcp',
    'enable-tftp',
    `tftp-root=${o.tftpRoot}`,
    '',
    '# Client architecture (option 93): 7 and 9 are x86-64 UEFI, 0 is BIOS; iPXE says who it is in option 175.',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    'dhcp-match=set:ipxe,175',
  ];
  if (o.mode === 'proxy') {
    l.push(
      '',
      `dhcp-range=${o.network},proxy,${netmask}`,
      '# The PXE ROM asks the proxy which file to boot; no prompt: boot it right away.',
      `pxe-service=tag:!ipxe,x86PC,"personal-cloud (BIOS)",${BIOS_LOADER.replace(/\.0$/, '')}`,
      `pxe-service=tag:!ipxe,X86-64_EFI,"personal-cloud (UEFI)",${UEFI_LOADER}`,
      `pxe-service=tag:!ipxe,BC_EFI,"personal-cloud (UEFI)",${UEFI_LOADER}`,
      `dhcp-boot=tag:ipxe,${IPXE_SCRIPT}`,
    );
  } else {
    l.push(
      '',
      o.range ? `dhcp-range=${o.range.start},${o.range.end},${netmask},1h` : `dhcp-range=${o.network},static,${netmask},1h`,
      ...(o.hosts ?? []).map((h) => `dhcp-host=${h.mac},${h.address},${h.name}`),
      ...(o.gateway ? [`dhcp-option=option:router,${o.gateway}`] : []),
      ...(o.dns?.length ? [`dhcp-option=option:dns-server,${o.dns.join(',')}`] : []),
      ...(o.leaseFile ? [`dhcp-leasefile=${o.leaseFile}`] : []),
      'dhcp-authoritative',
      `dhcp-boot=tag:ipxe,${IPXE_SCRIPT}`,
      `dhcp-boot=tag:efi64,tag:!ipxe,${UEFI_LOADER}`,
      `dhcp-boot=tag:!efi64,tag:!ipxe,${BIOS_LOADER}`,
    );
  }
  return `${l.join('\n')}\n`;
}
