import type { Release } from '../../core/config-types.js';
import type { BootLoaders, LoaderSet } from '../write/boot-files.js';
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
  /** Also the boot loaders these outputs need, from the release's packages (not with baseIso: a remaster keeps the ISO's own). */
  loaders?: LoaderSet;
  /** The boot loaders from the build machine's /usr/lib instead of the release's packages. */
  hostLoaders?: boolean;
  progress: Progress;
}

export interface InstallerInput { name: string; sha256: string; size?: number; version?: string }

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
  /** The boot loaders, when asked for (ResolveOptions.loaders). */
  loaders?: BootLoaders;
  /** For the build manifest (the loaders' packages included). */
  inputs: InstallerInput[];
}
