// The agent's lines in /etc/fstab live in one marked block, one line per mount point.
import { managedBlock, readText, withManagedBlock, writeDurable } from './fsx.js';

const FSTAB = '/etc/fstab';

export async function fstabLine(mountPoint: string): Promise<string | undefined> {
  return (managedBlock((await readText(FSTAB)) ?? '') ?? []).find((l) => l.split(/\s+/)[1] === mountPoint);
}

export async function setFstabLine(mountPoint: string, line: string): Promise<void> {
  const text = (await readText(FSTAB)) ?? '';
  const lines = (managedBlock(text) ?? []).filter((l) => l.split(/\s+/)[1] !== mountPoint);
  lines.push(line);
  lines.sort((a, b) => a.split(/\s+/)[1].localeCompare(b.split(/\s+/)[1]));
  await writeDurable(FSTAB, withManagedBlock(text, lines), 0o644);
}
