// Resident memory of the run's processes through the run, read from /proc/<pid>/status (VmRSS) every few
// seconds: whether the api's and the workers' memory stays flat while the command count grows.
import { readFile } from 'node:fs/promises';
import type { ManagedProcess } from './processes.ts';

export interface MemorySample {
  at: number;
  name: string;
  pid: number;
  rssMiB: number;
}

async function rssMiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kib === undefined ? undefined : Number(kib) / 1024;
}

/**
 * Samples every `everyMs` until stopped.
 *
 * @example
 * const memory = sampleMemory(() => [api, ...workers], 10_000);
 * const samples = memory.stop();
 */
export function sampleMemory(processes: () => readonly ManagedProcess[], everyMs: number): { stop(): MemorySample[] } {
  const samples: MemorySample[] = [];
  const take = async () => {
    const at = Date.now();
    for (const proc of processes()) {
      const pid = proc.pid;
      if (pid === undefined || !proc.running) continue;
      const rss = await rssMiB(pid);
      if (rss !== undefined) samples.push({ at, name: proc.name, pid, rssMiB: rss });
    }
  };
  void take();
  const timer = setInterval(() => void take(), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return samples;
    },
  };
}

/**
 * One line per role (api, worker): the range of its samples, and the highest sample of the first and of the
 * last quarter of the run, so growth with the count shows as a last quarter above the first.
 */
export function describeMemory(samples: readonly MemorySample[], from: number, to: number): string {
  const roles = [
    { role: 'api', match: (name: string) => name === 'api' },
    { role: 'workers', match: (name: string) => name.startsWith('worker-') },
  ];
  const quarter = (to - from) / 4;
  const mib = (n: number) => `${Math.round(n)}`;
  return roles
    .map(({ role, match }) => {
      const own = samples.filter((s) => match(s.name));
      if (own.length === 0) return `${role} -`;
      const values = own.map((s) => s.rssMiB);
      const max = (list: readonly MemorySample[]) => (list.length === 0 ? '-' : mib(Math.max(...list.map((s) => s.rssMiB))));
      const first = own.filter((s) => s.at < from + quarter);
      const last = own.filter((s) => s.at >= to - quarter);
      return (
        `${role} ${mib(Math.min(...values))}-${mib(Math.max(...values))} MiB over ${own.length} samples of ${new Set(own.map((s) => s.pid)).size} processes ` +
        `(highest in the first quarter ${max(first)}, in the last ${max(last)})`
      );
    })
    .join('; ');
}
