import { join, relative } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

/** A build input: a file, or a Debian package (name = its .deb file name, with its version). */
export interface ManifestInput { name: string; sha256: string; size?: number; version?: string }
export interface ManifestOutput { file: string; target: string; sha256: string; size: number }

export interface Manifest {
  tool: { name: 'personal-cloud'; version: string };
  cluster: string;
  release: string;
  /** SOURCE_DATE_EPOCH of the build: same inputs + same epoch = same bytes. */
  epoch: number;
  /** Public fingerprint of the join key the media carry (never the key itself). */
  keyId: string;
  inputs: ManifestInput[];
  outputs: ManifestOutput[];
}

/** manifest.json and SHA256SUMS next to the outputs (`sha256sum -c SHA256SUMS` checks them). */
export async function writeManifest(outDir: string, manifest: Manifest, name = 'manifest.json'): Promise<string> {
  const path = join(outDir, name);
  await writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  const sums = manifest.outputs.map((o) => `${o.sha256}  ${relative(outDir, o.file)}\n`).join('');
  await writeFileAtomic(join(outDir, 'SHA256SUMS'), sums, 0o644);
  return path;
}
