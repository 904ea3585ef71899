import { readFile } from 'node:fs/promises';

/** A file's text, or null when it does not exist (any other error is thrown). */
export async function readText(path: string): Promise<string | null> {
  try { return await readFile(path, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
