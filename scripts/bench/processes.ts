// Child processes of the benchmark: the real `api` and `worker` entry points, and the pg-boss baseline
// worker. Every child is spawned with process.execPath, remembered by pid, and killed by that pid when the
// benchmark ends (normally, on an error or on SIGINT). Nothing is ever signalled by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const live = new Set<ChildProcess>();

let profileDir: string | undefined;
/**
 * `--cpu-prof` of the bench: every child started from now on writes a V8 CPU profile into dir/<scenario>-<system>/<name>/ when it
 * exits (SIGTERM makes oncely's processes and the baseline worker exit normally, so the profile is written).
 */
export function profileChildrenInto(dir: string): void {
  profileDir = dir;
}

let childFlags: readonly string[] = [];
let childEnv: (name: string) => Record<string, string> = () => ({});
/**
 * Node flags (`--expose-gc`, `--heapsnapshot-signal=SIGUSR2`, `--max-semi-space-size=8`, `--import ./probe.ts`)
 * and environment variables, by the child's name, that every child started from now on gets besides (and over) its own
 * (`npm run soak -- --node-flags`, `--probe`).
 */
export function runChildrenWith(flags: readonly string[], env: (name: string) => Record<string, string> = () => ({})): void {
  childFlags = flags;
  childEnv = env;
}

/** Last resort, synchronous: SIGKILL every child still running (used from process.on('exit')). */
export function killAllChildrenNow(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

export interface Child {
  readonly name: string;
  readonly pid: number | undefined;
  /** Set when the child exited without being asked to: the scenario is then reported as broken. */
  readonly unplannedExit: string | undefined;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves when it has exited. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  /** Script path relative to the repository root. */
  script: string;
  env: Record<string, string>;
  /** Node flags before the script (the ones `npm run <script>` passes: see launchOf). */
  nodeFlags?: readonly string[];
  /** Resolves start() when this text appears on stdout or stderr; without it, start() resolves once spawned. */
  readyText?: string;
  logDir: string;
  readyTimeoutMs?: number;
}

/**
 * Spawns `process.execPath <script>` with exactly `env` (plus PATH), logs its output to logDir/<name>.log.
 *
 * @example
 * const api = await startChild({ name: 'api', script: 'src/main/api.ts', env, readyText: 'oncely listening on', logDir });
 * await api.stop();
 */
export async function startChild(options: SpawnOptions): Promise<Child> {
  const log: WriteStream = createWriteStream(path.join(options.logDir, `${options.name}.log`), { flags: 'a' });
  const profile = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, path.basename(options.logDir), options.name)}`];
  const proc = spawn(process.execPath, [...profile, ...(options.nodeFlags ?? []), ...childFlags, options.script], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...options.env, ...childEnv(options.name) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let planned = false;
  let unplannedExit: string | undefined;
  let tail = '';
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      log.end(`--- exit code ${code} signal ${signal}\n`);
      if (!planned) unplannedExit = `${options.name} (pid ${proc.pid}) exited by itself: code ${code}, signal ${signal}: ${tail.slice(-400).trim()}`;
      resolve();
    });
  });

  await new Promise<void>((resolve, reject) => {
    let ready = options.readyText === undefined;
    const timer = setTimeout(() => {
      if (!ready) reject(new Error(`${options.name} did not say "${options.readyText}" within ${(options.readyTimeoutMs ?? 60_000) / 1000} s: ${tail.slice(-400)}`));
    }, options.readyTimeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      log.write(text);
      tail = (tail + text).slice(-4000);
      if (!ready && options.readyText !== undefined && tail.includes(options.readyText)) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} could not be started: ${err.message}`));
    });
    proc.once('spawn', () => {
      if (ready) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`${options.name} exited before it was ready: ${tail.slice(-400).trim()}`));
    });
  });

  return {
    name: options.name,
    pid: proc.pid,
    get unplannedExit() {
      return unplannedExit;
    },
    async stop(timeoutMs = 30_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      planned = true;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Settings given with --oncely-env, for every oncely process of the run (none by default). */
let extraOncelyEnv: Record<string, string> = {};

/** Sets the variables every oncely process gets on top of oncelyEnv's (the bench's --oncely-env). */
export function setExtraOncelyEnv(env: Record<string, string>): void {
  extraOncelyEnv = { ...env };
}

/** The environment of an oncely process: the four variables the brief names, everything else default (or --oncely-env). */
export function oncelyEnv(databaseUrl: string, port: number): Record<string, string> {
  return { ...extraOncelyEnv, DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'warn' };
}

/**
 * How `npm run <script>` starts an entry point, read from package.json so that the bench runs the processes
 * a user gets: the environment assignments before `exec node`, and the node flags before the script path
 * (`"api": "MALLOC_ARENA_MAX=2 exec node --max-semi-space-size=16 src/main/api.ts"`). A script of any other
 * shape is refused rather than run differently.
 *
 * @example
 * launchOf('worker') // { env: { MALLOC_ARENA_MAX: '2' }, nodeFlags: ['--max-semi-space-size=16'], script: 'src/main/worker.ts' }
 */
export function launchOf(name: 'api' | 'worker'): { env: Record<string, string>; nodeFlags: string[]; script: string } {
  const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const words = (scripts[name] ?? '').trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Z_][A-Z0-9_]*=\S*$/.test(words[0] ?? '')) {
    const word = words.shift()!;
    env[word.slice(0, word.indexOf('='))] = word.slice(word.indexOf('=') + 1);
  }
  if (words[0] === 'exec') words.shift();
  const script = words.at(-1) ?? '';
  const nodeFlags = words.slice(1, -1);
  if (words[0] !== 'node' || !script.endsWith('.ts') || nodeFlags.some((flag) => !flag.startsWith('--'))) {
    throw new Error(`package.json's "${name}" script is not "[VAR=value ...] exec node [--flag ...] <entry>.ts": ${scripts[name]}`);
  }
  return { env, nodeFlags, script };
}

export function startApi(databaseUrl: string, port: number, logDir: string): Promise<Child> {
  const { env, nodeFlags, script } = launchOf('api');
  return startChild({ name: 'api', script, nodeFlags, env: { ...env, ...oncelyEnv(databaseUrl, port) }, readyText: 'oncely listening on', logDir });
}

/**
 * A worker at LOG_LEVEL=warn prints nothing when it is ready, so start() resolves once it is spawned; the
 * caller knows it works when commands become terminal (every scenario applies its setup commands first).
 */
export function startWorker(databaseUrl: string, port: number, logDir: string, index: number): Promise<Child> {
  const { env, nodeFlags, script } = launchOf('worker');
  return startChild({ name: `worker-${index}`, script, nodeFlags, env: { ...env, ...oncelyEnv(databaseUrl, port) }, logDir });
}
