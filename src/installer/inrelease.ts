// InRelease: verified with gpgv against the Debian archive keyring. Only the text gpgv vouches
// for (its --output) is parsed, so nothing outside the signed block can smuggle in a hash.
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { EXIT, UserError } from '../../core/errors.js';
import { parseStanzas } from './packages-index.js';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface ReleaseFile {
  fields: Record<string, string>;
  codename?: string;
  suite?: string;
  acquireByHash: boolean;
  /** path (relative to dists/RELEASE/) → SHA256 + size */
  sha256: Map<string, { sha256: string; size: number }>;
}

/** Parses the (already verified) Release text. */
export function parseRelease(text: string): ReleaseFile {
  const [stanza] = parseStanzas(text);
  if (!stanza) throw new UserError('the Release file is empty');
  const sha256 = new Map<string, { sha256: string; size: number }>();
  for (const line of (stanza.SHA256 ?? '').split('\n')) {
    const m = /^\s*([0-9a-f]{64})\s+(\d+)\s+(\S+)\s*$/.exec(line);
    if (m) sha256.set(m[3], { sha256: m[1], size: Number(m[2]) });
  }
  return {
    fields: stanza,
    codename: stanza.Codename,
    suite: stanza.Suite,
    acquireByHash: (stanza['Acquire-By-Hash'] ?? '').toLowerCase() === 'yes',
    sha256,
  };
}

/**
 * Checks the clearsigned InRelease with gpgv and returns the signed text. A bad or missing
 * signature is a UserError with EXIT.verification. `tmpDir` is scratch space the caller removes.
 */
export async function verifyInRelease(data: Buffer, tmpDir: string, source: string, keyring = DEBIAN_KEYRING): Promise<string> {
  try { await access(keyring); } catch {
    throw new UserError(`keyring ${keyring} not found: cannot verify the Debian archive`, EXIT.tool, 'apt-get install debian-archive-keyring');
  }
  await mkdir(tmpDir, { recursive: true });
  const input = join(tmpDir, 'InRelease');
  const output = join(tmpDir, 'Release');
  await writeFile(input, data);
  const r = await execa('gpgv', ['--keyring', keyring, '--output', output, input], { reject: false, all: true });
  if ((r as { code?: string }).code === 'ENOENT' || (r.failed && r.exitCode === undefined)) {
    throw new UserError('gpgv is not installed: cannot verify the Debian archive signature', EXIT.tool, 'apt-get install gpgv');
  }
  if (r.exitCode !== 0) {
    const detail = String(r.all ?? '').split('\n').filter((l) => /BAD|bad signature|no valid OpenPGP|Can't check|not found|expired|verify signatures failed|error/i.test(l)).slice(0, 3).join('; ');
    throw new UserError(`signature check of ${source} failed: ${detail || `gpgv exited with ${r.exitCode}`}`, EXIT.verification, 'the mirror may be corrupt or tampered with; try another --mirror');
  }
  return readFile(output, 'utf8');
}
