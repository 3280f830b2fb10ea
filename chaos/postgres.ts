// The chaos run's own PostgreSQL: an embedded PostgreSQL 18 in a temporary directory that the nemesis may
// crash (`pg_ctl stop -m immediate`) and start again on the same data directory and port.
import { execFile, type ChildProcess } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, initialiseCluster, preparePostgres, spawnServer, stopServer } from '../src/db/embedded.ts';

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
  const install = await preparePostgres();
  await initialiseCluster(install, dataDir, 'postgres');
  const bin = install.bin;
  const user = install.user ? { uid: install.user.uid, gid: install.user.gid } : undefined;
  let child: ChildProcess | undefined;
  let up = false;

  const start = async () => {
    const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'shared_buffers=128MB'];
    child = await spawnServer(install, dataDir, port, flags, options.log, (server) => {
      if (child === server) {
        child = undefined;
        up = false;
      }
    });
    up = true;
  };

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
      await run(bin.pg_ctl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'], { ...(user ?? {}), cwd: path.dirname(dataDir) });
      await exited(server);
    },
    start,
    async stop() {
      up = false;
      await stopServer(child);
    },
  };
}
