import { existsSync } from 'node:fs';
import { EXIT, UserError } from '../../core/errors.js';

// Boot loaders taken from Debian packages on the build machine. UEFI uses Debian's signed shim
// and signed CD GRUB (gcdx64 finds the image by /.disk/info and reads /boot/grub/grub.cfg), so
// images boot with Secure Boot on, like Debian's own media.
export const BOOT_FILES = {
  isohybridMbr: { path: '/usr/lib/ISOLINUX/isohdpfx.bin', pkg: 'isolinux' },
  isolinux: { path: '/usr/lib/ISOLINUX/isolinux.bin', pkg: 'isolinux' },
  ldlinux: { path: '/usr/lib/syslinux/modules/bios/ldlinux.c32', pkg: 'syslinux-common' },
  libcom32: { path: '/usr/lib/syslinux/modules/bios/libcom32.c32', pkg: 'syslinux-common' },
  libutil: { path: '/usr/lib/syslinux/modules/bios/libutil.c32', pkg: 'syslinux-common' },
  menu: { path: '/usr/lib/syslinux/modules/bios/menu.c32', pkg: 'syslinux-common' },
  shim: { path: '/usr/lib/shim/shimx64.efi.signed', pkg: 'shim-signed' },
  mokManager: { path: '/usr/lib/shim/mmx64.efi.signed', pkg: 'shim-signed' },
  grubCd: { path: '/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed', pkg: 'grub-efi-amd64-signed' },
} as const;

export type BootFile = keyof typeof BOOT_FILES;

export function bootFile(name: BootFile): string {
  const f = BOOT_FILES[name];
  if (!existsSync(f.path)) throw new UserError(`${f.path} is missing`, EXIT.tool, `apt-get install ${f.pkg}`);
  return f.path;
}
