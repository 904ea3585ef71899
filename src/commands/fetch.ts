import type { Command } from './command.js';
import { parseCommandArgs, writeJson } from './command.js';
import { RELEASES, type Release } from '../../core/config-types.js';
import { EXIT, UserError } from '../../core/errors.js';
import { createProgress } from '../util/progress.js';
import { DEFAULT_MIRROR, resolveInstaller } from '../installer/resolve.js';
import { defaultCacheDir } from '../util/cache-dir.js';

const help = `Usage: personal-cloud fetch [options]

Download, verify and cache the Debian installer the media are built from, so later builds
need no network. By default this is the debian-installer-NN-netboot-amd64 package from the
archive: InRelease is checked with gpgv against debian-archive-keyring, then the Packages
index and the .deb by SHA256. The release's boot loader packages (shim-signed,
shim-helpers-amd64-signed, grub-efi-amd64-signed, isolinux, syslinux-common, pxelinux) are
fetched the same way, except with --base-iso (a remaster keeps the ISO's own).

Options:
  --release trixie|bookworm  Debian release (default: trixie)
  --mirror URL               Debian mirror (default: ${DEFAULT_MIRROR})
  --proxy URL                HTTP proxy (default: $http_proxy)
  --cache DIR                cache directory (default: $PERSONAL_CLOUD_CACHE,
                             $XDG_CACHE_HOME/personal-cloud or ~/.cache/personal-cloud)
  --installer PATH           use a local netboot tree (…/images/NN/amd64/text or its
                             debian-installer/amd64 dir) or a local netboot .deb
  --base-iso FILE            use an official Debian netinst/DVD ISO (to remaster)
  --offline                  no network: use what an earlier fetch verified
  --json                     print the result as JSON on stdout
  -h, --help                 show this help

Examples:
  personal-cloud fetch
  personal-cloud fetch --release bookworm --mirror http://ftp.de.debian.org/debian
  personal-cloud fetch --base-iso debian-13.0.0-amd64-netinst.iso --json
`;

function proxyFor(mirror: string, env: NodeJS.ProcessEnv): string | undefined {
  const url = new URL(mirror);
  const proxy = url.protocol === 'https:' ? (env.https_proxy ?? env.HTTPS_PROXY) : (env.http_proxy ?? env.HTTP_PROXY);
  if (!proxy) return undefined;
  const noProxy = (env.no_proxy ?? env.NO_PROXY ?? '').split(',').map((s) => s.trim().replace(/^\./, '')).filter(Boolean);
  const host = url.hostname;
  if (noProxy.some((n) => n === '*' || host === n || host.endsWith(`.${n}`))) return undefined;
  return proxy;
}

export const fetchCommand: Command = {
  name: 'fetch',
  summary: 'download, verify and cache the Debian installer (netboot package or base ISO)',
  help,
  async run(argv) {
    const parsed = parseCommandArgs(fetchCommand, argv, {
      release: { type: 'string' }, mirror: { type: 'string' }, proxy: { type: 'string' }, cache: { type: 'string' },
      installer: { type: 'string' }, 'base-iso': { type: 'string' }, offline: { type: 'boolean' }, json: { type: 'boolean' },
    }, false);
    if (!parsed) return EXIT.ok;
    const v = parsed.values;
    if (v.release !== undefined && !(v.release in RELEASES)) {
      throw new UserError(`fetch: --release must be one of ${Object.keys(RELEASES).join(', ')}, not '${v.release}'`, EXIT.usage);
    }
    const mirror = v.mirror ?? DEFAULT_MIRROR;
    try { new URL(mirror); } catch { throw new UserError(`fetch: --mirror '${mirror}' is not a URL (e.g. ${DEFAULT_MIRROR})`, EXIT.usage); }
    const src = await resolveInstaller({
      release: (v.release ?? 'trixie') as Release,
      releaseFromSource: v.release === undefined,
      mirror,
      proxy: v.proxy ?? proxyFor(mirror, process.env),
      installer: v.installer,
      baseIso: v['base-iso'],
      cacheDir: v.cache ?? defaultCacheDir(),
      offline: v.offline,
      loaders: 'all',
      progress: createProgress(),
    });
    if (v.json) {
      writeJson(src);
    } else {
      const lines = [
        `${src.kind} installer ${src.version} for ${src.release} (${src.origin})`,
        `  kernel: ${src.linux}`,
        `  initrd: ${src.initrd}`,
        ...(src.iso ? [`  iso:    ${src.iso.path} (${src.iso.volumeId})`] : [`  tree:   ${src.dir}`]),
        ...src.inputs.map((i) => `  sha256 ${i.sha256}  ${i.name} (${i.size} bytes)`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return EXIT.ok;
  },
};
