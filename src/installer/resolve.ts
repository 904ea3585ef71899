// The installer source for a build: a local dir/.deb, a base ISO, or the netboot package from
// the archive (with the cache for offline builds); and the release's boot loaders when asked.
import { stat } from 'node:fs/promises';
import { EXIT, UserError } from '../../core/errors.js';
import { resolveBaseIso } from './base-iso.js';
import { resolveBootLoaders } from './boot-loaders.js';
import { Cache } from './cache.js';
import { netbootFromLocalDeb, netbootFromLocalDir, resolveNetboot } from './netboot.js';
import type { InstallerSource, ResolveOptions } from './types.js';

export type { InstallerSource, ResolveOptions, IsoSource, InstallerInput } from './types.js';

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

export async function resolveInstaller(opts: ResolveOptions): Promise<InstallerSource> {
  if (opts.installer && opts.baseIso) throw new UserError('give either an installer (--installer) or a base ISO (--base-iso), not both', EXIT.usage);
  if (opts.hostLoaders && opts.baseIso) throw new UserError('--host-loaders does not apply to --base-iso: a remastered ISO keeps its own boot loaders', EXIT.usage);
  const cache = new Cache(opts.cacheDir);
  await cache.init();
  let source: InstallerSource;
  if (opts.installer) {
    const st = await stat(opts.installer).catch(() => undefined);
    if (!st) throw new UserError(`installer ${opts.installer} does not exist`, EXIT.usage);
    source = st.isDirectory() ? await netbootFromLocalDir(opts.installer, opts) : await netbootFromLocalDeb(opts.installer, opts, cache);
  } else if (opts.baseIso) {
    source = await resolveBaseIso(opts.baseIso, opts, cache);
  } else {
    source = await resolveNetboot(opts, cache);
  }
  if (opts.loaders && !source.iso) {
    // The installer's release, which a local installer may have decided.
    const loaders = await resolveBootLoaders({ ...opts, release: source.release, set: opts.loaders, host: opts.hostLoaders }, cache);
    source = { ...source, loaders, inputs: [...source.inputs, ...loaders.inputs] };
  }
  opts.progress.done(`installer: ${source.kind} ${source.version} (${source.release}, ${source.origin})`);
  return source;
}
