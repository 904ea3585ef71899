// SSH into an e2e node as its admin user (a key made for this run), running commands as root
// through sudo with the run's password (its hash is what the node's image holds).
import { execa } from 'execa';

export interface NodeShell {
  /** Runs `script` as root on the node (sh -c); resolves stdout, rejects with stderr on failure. */
  root(script: string, timeoutMs?: number): Promise<string>;
  /** The same, but returns exit code and output instead of rejecting. */
  tryRoot(script: string, timeoutMs?: number): Promise<{ code: number; out: string }>;
}

// ConnectTimeout covers the banner exchange: sshd started per connection in a loaded TCG guest is slow.
export function nodeShell(opts: { netns: string; address: string; user: string; keyFile: string; password: string }): NodeShell {
  const run = async (script: string, timeoutMs = 180_000) => {
    const remote = `sudo -S -p '' sh -c '${script.replace(/'/g, `'\\''`)}'`;
    const r = await execa('ip', ['netns', 'exec', opts.netns, 'ssh', '-i', opts.keyFile, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=90', `${opts.user}@${opts.address}`, remote],
    { input: `${opts.password}\n`, reject: false, timeout: timeoutMs });
    return { code: r.exitCode ?? -1, out: `${r.stdout}`, err: `${r.stderr}` };
  };
  return {
    async root(script, timeoutMs) {
      const r = await run(script, timeoutMs);
      if (r.code !== 0) throw new Error(`ssh ${opts.address} (exit ${r.code}): ${script}\n${r.err.slice(-1500)}${r.out.slice(-500)}`);
      return r.out;
    },
    async tryRoot(script, timeoutMs) {
      const r = await run(script, timeoutMs);
      return { code: r.code, out: r.out + r.err };
    },
  };
}
