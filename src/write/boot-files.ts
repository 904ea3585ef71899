import { EXIT, UserError } from '../../core/errors.js';

// The boot loaders the media carry, by their path in the Debian package that ships them (the
// same path they have on a Debian system). UEFI uses Debian's signed shim and signed CD GRUB
// (gcdx64 finds the image by /.disk/info and reads /boot/grub/grub.cfg), so images boot with
// Secure Boot on, like Debian's own media. They come from the packages of the release being
// installed (src/installer/boot-loaders.ts), the build machine's copies only on request.
// Checked against trixie and bookworm: MokManager is in shim-helpers-amd64-signed, not shim-signed.
export const BOOT_FILES = {
  isohybridMbr: { path: 'usr/lib/ISOLINUX/isohdpfx.bin', pkg: 'isolinux' },
  isolinux: { path: 'usr/lib/ISOLINUX/isolinux.bin', pkg: 'isolinux' },
  ldlinux: { path: 'usr/lib/syslinux/modules/bios/ldlinux.c32', pkg: 'syslinux-common' },
  libcom32: { path: 'usr/lib/syslinux/modules/bios/libcom32.c32', pkg: 'syslinux-common' },
  libutil: { path: 'usr/lib/syslinux/modules/bios/libutil.c32', pkg: 'syslinux-common' },
  menu: { path: 'usr/lib/syslinux/modules/bios/menu.c32', pkg: 'syslinux-common' },
  shim: { path: 'usr/lib/shim/shimx64.efi.signed', pkg: 'shim-signed' },
  mokManager: { path: 'usr/lib/shim/mmx64.efi.signed', pkg: 'shim-helpers-amd64-signed' },
  grubCd: { path: 'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed', pkg: 'grub-efi-amd64-signed' },
  pxelinux: { path: 'usr/lib/PXELINUX/pxelinux.0', pkg: 'pxelinux' },
} as const;

export type BootFile = keyof typeof BOOT_FILES;

/** The loaders each kind of output needs ('all': what `fetch` caches for later offline builds). */
export const LOADER_SETS = {
  iso: ['isohybridMbr', 'isolinux', 'ldlinux', 'libcom32', 'libutil', 'menu', 'shim', 'mokManager', 'grubCd'],
  pxe: ['pxelinux', 'ldlinux', 'libcom32', 'libutil', 'menu'],
  all: Object.keys(BOOT_FILES) as BootFile[],
} as const satisfies Record<string, readonly BootFile[]>;

export type LoaderSet = keyof typeof LOADER_SETS;

/** The loaders of one build: local paths of the files and what they came from (for the manifest). */
export interface BootLoaders {
  /** 'archive'/'cache': the release's packages, verified; 'host': the build machine's /usr/lib. */
  origin: 'archive' | 'cache' | 'host';
  files: Partial<Record<BootFile, string>>;
  /** Manifest inputs: the packages (name = .deb file name, version, sha256), or the host files. */
  inputs: { name: string; sha256: string; size?: number; version?: string }[];
}

export function packagesOf(set: LoaderSet): string[] {
  return [...new Set(LOADER_SETS[set].map((f) => BOOT_FILES[f].pkg))];
}

export function bootFile(loaders: BootLoaders, name: BootFile): string {
  const path = loaders.files[name];
  if (!path) throw new UserError(`internal: the boot loader ${BOOT_FILES[name].path} (${BOOT_FILES[name].pkg}) was not prepared for this build`, EXIT.failure);
  return path;
}
