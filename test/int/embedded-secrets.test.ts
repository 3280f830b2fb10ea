// The embedded PostgreSQL keeps its secret: a random superuser password per data folder (kept beside it, mode
// 0600), the URL file mode 0600, the password never printed; a data folder made before (password `postgres`)
// keeps working and gets a random password; system tools run by absolute path, never a PATH look-alike; cache
// and data folders someone else owns are refused.
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkOwnFolder,
  EmbeddedPostgresError,
  freePort,
  initialiseCluster,
  passwordFileOf,
  preparePostgres,
  spawnServer,
  startEmbeddedPostgres,
  stopServer,
  systemTool,
} from '../../src/db/embedded.ts';
import { spawnEntry, waitUntil, type Child } from '../helpers/system.ts';

let root: string;
const children: Child[] = [];
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oncely-secrets-'));
  // The server runs as the postgres user when we are root: it must reach the data folders.
  await chmod(root, 0o755);
});
afterAll(async () => {
  await Promise.all(children.map((child) => child.kill('SIGKILL')));
  await rm(root, { recursive: true, force: true });
});

const mode = async (file: string) => (await stat(file)).mode & 0o777;
async function loginCode(port: number, password: string): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
  client.on('error', () => {});
  try {
    await client.connect();
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

describe('embedded PostgreSQL secrets', () => {
  it('gives a new data folder a random password, kept beside it with mode 0600; `postgres` is refused', async () => {
    const dataDir = path.join(root, 'fresh', 'pg');
    await mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });
    const server = await startEmbeddedPostgres({ dataDir });
    try {
      const file = passwordFileOf(dataDir);
      const password = (await readFile(file, 'utf8')).trim();
      expect(password).toMatch(/^[0-9a-f]{48}$/);
      expect(await mode(file)).toBe(0o600);
      expect(new URL(server.url).password).toBe(password);
      expect(await loginCode(server.port, password)).toBe('ok');
      expect(await loginCode(server.port, 'postgres')).toBe('28P01');
    } finally {
      await server.stop();
    }
    // A second data folder gets a password of its own.
    const other = path.join(root, 'fresh', 'pg2');
    const second = await startEmbeddedPostgres({ dataDir: other, persistent: false });
    try {
      expect(new URL(second.url).password).not.toBe((await readFile(passwordFileOf(dataDir), 'utf8')).trim());
    } finally {
      await second.stop();
    }
  });

  it('keeps a data folder from before (password `postgres`) working, with its data, and gives it a random password', async () => {
    const dataDir = path.join(root, 'legacy', 'pg');
    await mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });
    // Today's layout: a cluster made with the fixed password, no password file.
    const install = await preparePostgres();
    await initialiseCluster(install, dataDir, 'postgres');
    const port = await freePort();
    const child = await spawnServer(install, dataDir, port, ['-c', 'listen_addresses=127.0.0.1'], () => {});
    const client = new pg.Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` });
    await client.connect();
    await client.query(`CREATE TABLE kept (note text); INSERT INTO kept VALUES ('from before')`);
    await client.end();
    await stopServer(child);
    expect(existsSync(passwordFileOf(dataDir))).toBe(false);

    const server = await startEmbeddedPostgres({ dataDir });
    try {
      const password = (await readFile(passwordFileOf(dataDir), 'utf8')).trim();
      expect(password).toMatch(/^[0-9a-f]{48}$/);
      const reader = new pg.Client({ connectionString: server.url });
      await reader.connect();
      expect((await reader.query<{ note: string }>('SELECT note FROM kept')).rows).toEqual([{ note: 'from before' }]);
      await reader.end();
      expect(await loginCode(server.port, 'postgres')).toBe('28P01');
    } finally {
      await server.stop();
    }
    // And it starts again with the password now kept.
    const again = await startEmbeddedPostgres({ dataDir, persistent: false });
    await again.stop();
  });

  it('npm start: the URL file is mode 0600, the printed URL masks the password, and no PATH look-alike of `id` runs', async () => {
    const dataDir = path.join(root, 'app-data');
    const fakeBin = path.join(root, 'fake-bin');
    const marker = path.join(root, 'fake-id-ran');
    await mkdir(fakeBin, { recursive: true });
    // What a package could put in node_modules/.bin: run as root through PATH, it would be anyone's code.
    await writeFile(path.join(fakeBin, 'id'), `#!/bin/sh\ntouch ${marker}\nexec /usr/bin/id "$@"\n`, { mode: 0o755 });
    const port = await freePort();
    const app = spawnEntry('all-in-one', { DATA_DIR: dataDir, PORT: String(port), PATH: `${fakeBin}:${process.env['PATH'] ?? ''}` });
    children.push(app);
    await waitUntil(() => /listening on/.test(app.output()), Boolean, 90_000, 'npm start to listen');
    const url = (await readFile(path.join(dataDir, 'postgres-url'), 'utf8')).trim();
    const password = new URL(url).password;
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(await mode(path.join(dataDir, 'postgres-url'))).toBe(0o600);
    expect(app.output()).not.toContain(password);
    expect(app.output()).toMatch(/embedded PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres/);
    expect(existsSync(marker)).toBe(false);
    expect(await app.kill('SIGTERM')).toBe(0);
    expect(app.output()).not.toContain(password);
  });

  it('runs system tools by absolute path only', () => {
    for (const tool of ['id', 'groupadd', 'useradd'] as const) {
      const file = systemTool(tool);
      if (file !== undefined) expect(file).toMatch(/^\/(usr\/)?s?bin\//);
    }
    expect(systemTool('id')).toBeDefined();
  });

  it('refuses, in one line, a cache or data folder that belongs to someone else or that others may write to', async () => {
    const theirs = path.join(root, 'theirs');
    await mkdir(theirs, { mode: 0o755 });
    await chown(theirs, 65534, 65534);
    const open = path.join(root, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    const mine = path.join(root, 'mine');
    await mkdir(mine, { mode: 0o755 });
    expect(() => checkOwnFolder(theirs, 'the binary cache')).toThrow(EmbeddedPostgresError);
    expect(() => checkOwnFolder(theirs, 'the binary cache')).toThrow(/^the binary cache .*theirs already exists and belongs to uid 65534/);
    expect(() => checkOwnFolder(open, 'the data folder')).toThrow(/others may write to it/);
    expect(() => checkOwnFolder(mine, 'the data folder')).not.toThrow();
    expect(() => checkOwnFolder(path.join(root, 'missing'), 'the data folder')).not.toThrow();
    try {
      checkOwnFolder(theirs, 'the binary cache');
    } catch (err) {
      expect((err as Error).message.split('\n')).toHaveLength(1);
    }
  });
});
