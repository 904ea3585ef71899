import type { Release } from '../../core/config-types.js';
import type { Progress } from '../util/progress.js';

export interface ResolveOptions {
  release: Release;
  /** e.g. http://deb.debian.org/debian */
  mirror: string;
  /** HTTP proxy URL (http://host:port) used for the mirror. */
  proxy?: string;
  /** A local directory (an unpacked netboot tree, the package's images/NN/amd64/text dir or its debian-installer/amd64 subdir) or a local netboot .deb. */
  installer?: string;
  /** An official Debian netinst/DVD ISO to remaster. */
  baseIso?: string;
  cacheDir?: string;
  /** Never touch the network: use the last verified resolution from the cache. */
  offline?: boolean;
  /** Take the release from a local installer/ISO instead of insisting it matches `release`. */
  releaseFromSource?: boolean;
  /** Keyring gpgv checks InRelease against (default: debian-archive-keyring). */
  keyring?: string;
  progress: Progress;
}

export interface InstallerInput { name: string; sha256: string; size: number }

export interface IsoSource {
  /** The ISO file itself (absolute). */
  path: string;
  volumeId: string;
  /** Paths inside the ISO. */
  kernelPath: string;
  initrdPath: string;
  /** Extracted local copies (absolute paths) of /boot/grub/grub.cfg and /isolinux/isolinux.cfg, when the ISO has them. */
  grubCfg?: string;
  isolinuxCfg?: string;
  /** Every extracted file: path inside the ISO → local absolute path. */
  files: Record<string, string>;
  /** El Torito boot images found (platform + path inside the ISO). */
  bootImages: { platform: 'BIOS' | 'UEFI' | string; path?: string }[];
  /** First line of /.disk/info. */
  diskInfo: string;
}

export interface InstallerSource {
  kind: 'netboot' | 'iso';
  release: Release;
  /** Package version (netboot) or the ISO's volume id. */
  version: string;
  /** netboot: the .../debian-installer/amd64 dir; iso: the dir holding the extracted kernel + initrd. */
  dir: string;
  /** Absolute paths of the installer kernel and initrd. */
  linux: string;
  initrd: string;
  /** netboot: the tree root holding debian-installer/, pxelinux.0, ldlinux.c32, … */
  root?: string;
  iso?: IsoSource;
  /** Where the files came from: 'archive', 'cache', 'local-dir', 'local-deb', 'iso'. */
  origin: 'archive' | 'cache' | 'local-dir' | 'local-deb' | 'iso';
  /** For the build manifest. */
  inputs: InstallerInput[];
}
