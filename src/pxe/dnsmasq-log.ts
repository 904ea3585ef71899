// Turns dnsmasq's log lines into "which machine asked for what": DHCP lines tie an address to
// a MAC, TFTP lines name the file sent to an address.

export interface LogEvent { kind: 'dhcp' | 'tftp'; mac?: string; ip?: string; file?: string; message?: string }

const MAC = /\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/i;
const IP = /\b(\d{1,3}(?:\.\d{1,3}){3})\b/;

export function parseDnsmasqLine(line: string): LogEvent | undefined {
  let m = /dnsmasq-tftp\[\d+\]: sent (\S+) to (\S+)/.exec(line);
  if (m) return { kind: 'tftp', file: m[1], ip: m[2], message: 'sent' };
  m = /dnsmasq-tftp\[\d+\]: file (\S+) not found(?: for (\S+))?/.exec(line);
  if (m) return { kind: 'tftp', file: m[1], ip: m[2], message: 'not found' };
  m = /dnsmasq-dhcp\[\d+\]: (?:\d+ )?((?:DHCP|PXE)\w*)\(\S+\)\s+(.*)$/.exec(line);
  if (m) {
    const rest = m[2];
    return { kind: 'dhcp', message: m[1], mac: MAC.exec(rest)?.[1]?.toLowerCase(), ip: IP.exec(rest)?.[1] };
  }
  return undefined;
}

/** Remembers which MAC has which address, so TFTP requests can be named by machine. */
export class ClientTable {
  private byIp = new Map<string, string>();
  constructor(private names: Map<string, string>) {}

  /** A line for the user, or undefined when the event says nothing new. */
  describe(e: LogEvent, tftpRoot: string): string | undefined {
    if (e.kind === 'dhcp') {
      if (e.mac && e.ip) this.byIp.set(e.ip, e.mac);
      if (!e.mac || !/DHCPACK|PXE/.test(e.message ?? '')) return undefined;
      return `${this.who(e.mac, e.ip)}: ${e.message}`;
    }
    const mac = e.ip ? this.byIp.get(e.ip) : undefined;
    const file = e.file?.startsWith(tftpRoot) ? e.file.slice(tftpRoot.length).replace(/^\/+/, '') : e.file;
    return `${mac ? this.who(mac, e.ip) : e.ip ?? 'a machine'} ${e.message === 'sent' ? 'fetched' : 'asked for (missing)'} ${file}`;
  }

  private who(mac: string, ip?: string): string {
    const name = this.names.get(mac);
    return `${name ?? 'unknown machine'} ${mac}${ip ? ` (${ip})` : ''}`;
  }
}
