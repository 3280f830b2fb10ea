// A real PgBouncer in transaction pooling mode on a loopback port, in front of a given PostgreSQL: what the
// chaos run (`--pooler pgbouncer`) and the topologies suite put between oncely and its database. Debian's
// pgbouncer (1.18: no protocol-level prepared statements) runs as the `postgres` user when we are root, since
// PgBouncer refuses to run as root.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/db/embedded.ts';
import { postgresUser } from './run-as.ts';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

export interface PgBouncer {
  port: number;
  /** `serverUrl` with its host and port replaced by the pooler's. */
  urlFor(serverUrl: string): string;
  stop(): Promise<void>;
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/**
 * Starts PgBouncer (pool_mode = transaction, auth trust with a userlist) forwarding every database to
 * `target` with the target's own user and password, and resolves once it accepts connections.
 *
 * @example
 * const bouncer = await startPgBouncer({ target: 'postgres://postgres:postgres@127.0.0.1:5432/postgres' });
 * const pooledUrl = bouncer.urlFor(databaseUrl);
 */
export async function startPgBouncer(options: { target: string; poolSize?: number; log?: (text: string) => void }): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER)) throw new Error(`${PGBOUNCER} is missing: apt-get install -y pgbouncer`);
  const target = new URL(options.target);
  const user = decodeURIComponent(target.username || 'postgres');
  const password = decodeURIComponent(target.password);
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oncely-pgbouncer-'));
  const owner = postgresUser('pgbouncer');
  const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;
  await writeFile(path.join(dir, 'userlist.txt'), `"${user}" ""\n`);
  await writeFile(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432} user=${user}${password ? ` password=${quote(password)}` : ''}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      'max_client_conn = 2000',
      `default_pool_size = ${options.poolSize ?? 40}`,
      // After a PostgreSQL restart, try again within a second (the default waits 15 s).
      'server_login_retry = 1',
      'server_connect_timeout = 5',
      `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  if (owner) {
    await chmod(dir, 0o755);
    for (const file of ['', 'userlist.txt', 'pgbouncer.ini']) await chown(path.join(dir, file), owner.uid, owner.gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER, [path.join(dir, 'pgbouncer.ini')], { ...(owner ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = false;
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
    options.log?.(chunk.toString());
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('exit', () => (exited = true));
  for (let i = 0; i < 100 && !(await answers(port)); i++) {
    if (exited) throw new Error(`pgbouncer exited at start: ${output.trim().split('\n').slice(-3).join(' | ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!(await answers(port))) {
    child.kill('SIGKILL');
    throw new Error(`pgbouncer did not listen on 127.0.0.1:${port} within 10 s: ${output.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return {
    port,
    urlFor(serverUrl) {
      const url = new URL(serverUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    async stop() {
      if (!exited) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
