// The part of Cockpit's cockpit.js (base1, loaded by index.html) that the page uses.
declare namespace cockpit {
  interface SpawnError { problem: string | null; exit_status: number | null; exit_signal: string | null; message: string }
  interface Spawned extends Promise<string> {
    stream(cb: (data: string) => void): Spawned;
    close(problem?: string): void;
  }
  function spawn(args: string[], options?: { superuser?: 'try' | 'require'; err?: 'out' | 'ignore' | 'message'; environ?: string[] }): Spawned;
  function jump(path: string, host?: string): void;
  const transport: { host: string };
}
