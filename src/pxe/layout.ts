// Where things live in a PXE tree (paths relative to the TFTP root) and the per-MAC file names
// each boot loader looks for.

export const KERNEL = 'debian-installer/amd64/linux';
export const GRUB_PREFIX = 'debian-installer/amd64/grub';
export const BIOS_LOADER = 'pxelinux.0';
/** The signed shim; it chain-loads grubx64.efi from the same TFTP folder. */
export const UEFI_LOADER = 'debian-installer/amd64/bootnetx64.efi';
export const IPXE_SCRIPT = 'boot.ipxe';
export const DNSMASQ_CONF = 'dnsmasq.conf';
export const STATE_FILE = 'pxe-state.json';
/** The HTTP port `serve` listens on unless told otherwise; baked into the nodes' command line. */
export const DEFAULT_HTTP_PORT = 8470;

export const nodeInitrd = (node: string) => `nodes/${node}/initrd.gz`;
export const nodeVariant = (node: string, loader: Loader, mode: EntryMode) => `nodes/${node}/${loader}-${mode}.cfg`;

export type Loader = 'pxelinux' | 'grub' | 'ipxe';
export type EntryMode = 'install' | 'local';

/** aa:bb:cc:dd:ee:ff → 01-aa-bb-cc-dd-ee-ff (ARP type 1 + MAC, as PXE loaders spell it). */
export function macTag(mac: string): string {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new Error(`not a MAC address: ${mac}`);
  return `01-${mac.toLowerCase().replace(/:/g, '-')}`;
}

/** The file each loader reads first for a machine with this MAC. */
export function perMacPath(loader: Loader, mac: string): string {
  switch (loader) {
    case 'pxelinux': return `pxelinux.cfg/${macTag(mac)}`;
    case 'grub': return `${GRUB_PREFIX}/grub.cfg-${macTag(mac)}`;
    case 'ipxe': return `ipxe/${macTag(mac)}.ipxe`;
  }
}

/** The menu for machines without their own entry. */
export function defaultMenuPath(loader: Loader): string {
  switch (loader) {
    case 'pxelinux': return 'pxelinux.cfg/default';
    case 'grub': return `${GRUB_PREFIX}/grub.cfg`;
    case 'ipxe': return 'ipxe/default.ipxe';
  }
}

export const LOADERS: Loader[] = ['pxelinux', 'grub', 'ipxe'];
