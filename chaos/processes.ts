// The real program's processes, as the chaos run starts them: each is spawned with process.execPath, logs to
// a file of its own, and is only ever signalled by the pid we hold. An exit we did not ask for is recorded
// as unplanned (and the process is started again, so the run goes on).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface UnplannedExit {
  name: string;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  tail: string;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly stopped: boolean;
  /** Starts it and resolves once it says it is ready (listening / worker started / inbox started). */
  start(): Promise<void>;
  /** SIGKILL, planned. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT, planned. */
  pause(): void;
  resume(): void;
  /** SIGTERM and wait; resolves with the exit code (null if it had to be killed). */
  terminate(timeoutMs: number): Promise<number | null>;
}

export interface ProcessOptions {
  name: string;
  entry: 'api' | 'worker' | 'inbox' | 'relay';
  env: Record<string, string>;
  logDir: string;
  onUnplannedExit: (exit: UnplannedExit) => void;
}

const READY = { api: 'oncely listening on', worker: '"msg":"worker started"', inbox: '"msg":"inbox started"', relay: '"msg":"relay started"' } as const;

/**
 * One supervised oncely process.
 *
 * @example
 * const worker = createManagedProcess({ name: 'worker-1', entry: 'worker', env, logDir, onUnplannedExit });
 * await worker.start();
 * await worker.kill();
 */
export function createManagedProcess(options: ProcessOptions): ManagedProcess {
  let child: ChildProcess | undefined;
  let planned = false;
  let paused = false;
  let tail = '';
  const log: WriteStream = createWriteStream(path.join(options.logDir, `${options.name}.log`), { flags: 'a' });
  const exited = (proc: ChildProcess) =>
    new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));

  const self: ManagedProcess = {
    name: options.name,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined;
    },
    get stopped() {
      return paused;
    },
    start() {
      if (child) return Promise.resolve();
      planned = false;
      paused = false;
      tail = '';
      const proc = spawn(process.execPath, [`chaos/entries/${options.entry}.ts`], {
        cwd: ROOT,
        env: { PATH: process.env['PATH'] ?? '', ...options.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      log.write(`--- ${new Date().toISOString()} start pid ${proc.pid}\n`);
      return new Promise<void>((resolve, reject) => {
        let ready = false;
        const timer = setTimeout(() => {
          if (!ready) reject(new Error(`${options.name} did not become ready within 60 s`));
        }, 60_000);
        const onData = (chunk: Buffer) => {
          const text = chunk.toString();
          log.write(text);
          tail = (tail + text).slice(-2000);
          if (!ready && tail.includes(READY[options.entry])) {
            ready = true;
            clearTimeout(timer);
            resolve();
          }
        };
        proc.stdout?.on('data', onData);
        proc.stderr?.on('data', onData);
        proc.on('exit', (code, signal) => {
          log.write(`--- ${new Date().toISOString()} exit pid ${proc.pid} code ${code} signal ${signal}\n`);
          if (child === proc) child = undefined;
          clearTimeout(timer);
          if (!planned) {
            options.onUnplannedExit({ name: options.name, pid: proc.pid, code, signal, at: Date.now(), tail });
          }
          if (!ready) reject(new Error(`${options.name} exited before it was ready (code ${code}, signal ${signal}): ${tail.slice(-300)}`));
        });
      });
    },
    async kill() {
      const proc = child;
      if (!proc) return;
      planned = true;
      proc.kill('SIGKILL');
      await exited(proc);
      paused = false;
    },
    pause() {
      if (!child || paused) return;
      paused = true;
      child.kill('SIGSTOP');
    },
    resume() {
      if (!child || !paused) return;
      paused = false;
      child.kill('SIGCONT');
    },
    async terminate(timeoutMs) {
      const proc = child;
      if (!proc) return 0;
      planned = true;
      if (paused) self.resume();
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      await exited(proc);
      clearTimeout(timer);
      return proc.signalCode === 'SIGKILL' ? null : proc.exitCode;
    },
  };
  return self;
}
