import { execa, type Options } from 'execa';
import { EXIT, UserError } from '../../core/errors.js';

// The one way the builder runs external tools: a missing tool names the Debian package to
// install, a failing one shows its stderr — never a stack trace.

const PACKAGE_OF: Record<string, string> = {
  xorriso: 'xorriso',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  mmd: 'mtools',
  gpgv: 'gpgv',
  xz: 'xz-utils',
  'debconf-set-selections': 'debconf',
  'qemu-system-x86_64': 'qemu-system-x86',
  dnsmasq: 'dnsmasq',
};

export async function run(cmd: string, args: string[], opts: Options = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    const r = await execa(cmd, args, { ...opts, stripFinalNewline: true });
    return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  } catch (e) {
    const err = e as { code?: string; stderr?: unknown; exitCode?: number; shortMessage?: string };
    if (err.code === 'ENOENT') {
      const pkg = PACKAGE_OF[cmd];
      throw new UserError(`'${cmd}' is not installed`, EXIT.tool, pkg ? `apt-get install ${pkg}` : undefined);
    }
    const tail = String(err.stderr ?? '').trim().split('\n').slice(-15).join('\n');
    throw new UserError(`${cmd} failed (exit ${err.exitCode ?? '?'}):\n${tail || err.shortMessage}`, EXIT.tool);
  }
}
