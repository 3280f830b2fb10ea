// npm run soak: the resident memory of the api and the worker while they take a million commands.
//
// The real `api` and `worker` processes (default settings, LOG_LEVEL=warn, as in `npm run bench`) take
// `--posts` credits as single `POST /v1/commands` from `--producers` closed-loop clients, then the rest of
// `--commands` through `POST /v1/commands/batch` (1,000 a request, the backlog kept under 20,000). VmRSS of
// both processes (/proc/<pid>/status) is sampled every second; the report gives it at every tenth of the
// commands, and the growth from the first tenth (the processes warmed up) to the end. Then every command
// must have succeeded and every balance must equal the sum of its credits.
//
//   npm run soak -- [--commands 1000000] [--posts 200000] [--producers 8] [--accounts 1000]
//
// Uses DATABASE_URL when set (a scratch database is created and dropped there), else a throwaway embedded
// PostgreSQL. On a shared machine: flock /tmp/oncely-heavy.lock npm run soak
import { mkdtemp } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../src/db/embedded.ts';
import { batchSubmit, closedLoop, httpClient, type Command } from './bench/http.ts';
import { observerPool, one, sleep } from './bench/measure.ts';
import { createDatabase, dropScratchDatabases, openServer } from './bench/postgres.ts';
import { killAllChildrenNow, startApi, startWorker, type Child } from './bench/processes.ts';

const USAGE = 'usage: npm run soak -- [--commands N] [--posts N] [--producers N] [--accounts N]';
const BACKLOG = 20_000;

function count(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`soak: --${name} must be an integer from ${min} to ${max}, got "${text}"\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

function settings() {
  let values;
  try {
    values = parseArgs({
      options: {
        commands: { type: 'string', default: '1000000' },
        posts: { type: 'string', default: '200000' },
        producers: { type: 'string', default: '8' },
        accounts: { type: 'string', default: '1000' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const commands = count('commands', values.commands, 1000, 10_000_000);
  return {
    commands,
    posts: count('posts', values.posts, 0, commands),
    producers: count('producers', values.producers, 1, 256),
    accounts: count('accounts', values.accounts, 1, 100_000),
  };
}

function rssMb(pid: number | undefined): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface Sample {
  done: number;
  api: number;
  worker: number;
}

async function main(): Promise<number> {
  const options = settings();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const server = await openServer(process.env['DATABASE_URL'], say);
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'oncely-soak-'));
  say(`soak: ${options.commands} commands (${options.posts} single POSTs, the rest in batches), PostgreSQL ${server.version}; logs in ${logDir}`);
  const children: Child[] = [];
  try {
    const url = await createDatabase(server, `soak_${process.pid}`);
    const pool = observerPool(url);
    const port = await freePort();
    const client = httpClient(`http://127.0.0.1:${port}`, options.producers);
    const api = await startApi(url, port, logDir);
    const worker = await startWorker(url, port, logDir, 1);
    children.push(api, worker);
    const alive = () => {
      for (const child of children) if (child.unplannedExit) throw new Error(child.unplannedExit);
    };
    const inFlight = async () => Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM oncely.commands WHERE status IN ('queued', 'retrying')`)).n);

    const accounts = Array.from({ length: options.accounts }, (_, i) => `soak-a${i}`);
    await batchSubmit(
      client,
      accounts.map((id) => ({ id: `open-${id}`, type: 'account.open', entityId: id, payload: {} })),
      1000,
      { signal: AbortSignal.timeout(60_000) },
    );
    for (let waited = 0; (await inFlight()) > 0; waited++) {
      if (waited > 120) throw new Error('the accounts were not opened within 60 s');
      await sleep(500);
    }
    const credits: Command[] = Array.from({ length: options.commands }, (_, i) => ({
      id: `soak-${i}`,
      type: 'account.credit',
      entityId: accounts[i % accounts.length]!,
      payload: { amount: 1 + (i % 97) },
    }));

    let submitted = 0;
    const samples: Sample[] = [];
    const started = performance.now();
    const sampler = setInterval(() => {
      void inFlight().then(
        (open) => {
          samples.push({ done: Math.max(0, submitted - open), api: rssMb(api.pid), worker: rssMb(worker.pid) });
          const last = samples.at(-1)!;
          process.stderr.write(
            `\rsoak: ${last.done} applied, api ${last.api.toFixed(0)} MB, worker ${last.worker.toFixed(0)} MB (${((performance.now() - started) / 1000).toFixed(0)} s)   `,
          );
        },
        () => {},
      );
    }, 1000);
    try {
      const signal = AbortSignal.timeout(3 * 60 * 60 * 1000);
      await closedLoop(client, credits.slice(0, options.posts), options.producers, { signal, onAccepted: () => void submitted++ });
      for (let i = options.posts; i < credits.length; i += 1000) {
        alive();
        // Bounded: the worker drains thousands a second; a backlog that never shrinks ends the run below.
        for (let waited = 0; (await inFlight()) > BACKLOG; waited++) {
          if (waited > 1200) throw new Error(`the backlog stayed above ${BACKLOG} for 10 minutes`);
          await sleep(500);
        }
        await batchSubmit(client, credits.slice(i, i + 1000), 1000, { signal, onAccepted: (n) => void (submitted += n) });
      }
      for (let waited = 0; (await inFlight()) > 0; waited++) {
        alive();
        if (waited > 1200) throw new Error('commands still in flight 10 minutes after the last submission');
        await sleep(500);
      }
    } finally {
      clearInterval(sampler);
      process.stderr.write('\n');
    }
    samples.push({ done: submitted, api: rssMb(api.pid), worker: rssMb(worker.pid) });
    const seconds = (performance.now() - started) / 1000;

    // Every command applied once: all succeeded, and each balance is the sum of its credits.
    const failed = Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM oncely.commands WHERE status <> 'succeeded'`)).n);
    const expected = new Map<string, number>();
    for (const c of credits) expected.set(c.entityId, (expected.get(c.entityId) ?? 0) + (c.payload['amount'] as number));
    const { rows } = await pool.query<{ id: string; balance: string }>(`/* oncely-bench observer */ SELECT id, balance::text FROM accounts`);
    const wrong = rows.filter((row) => Number(row.balance) !== (expected.get(row.id) ?? 0)).length;

    say(`soak: ${submitted} commands in ${seconds.toFixed(0)} s (${(submitted / seconds).toFixed(0)}/s)`);
    say('applied      api RSS MB   worker RSS MB');
    const at = (share: number) => samples.find((s) => s.done >= share * options.commands) ?? samples.at(-1)!;
    for (let tenth = 1; tenth <= 10; tenth++) {
      const s = at(tenth / 10);
      say(`${String(s.done).padStart(9)}   ${s.api.toFixed(0).padStart(10)}   ${s.worker.toFixed(0).padStart(13)}`);
    }
    const warm = at(0.1);
    const end = samples.at(-1)!;
    const peak = (role: 'api' | 'worker') => Math.max(...samples.filter((s) => s.done >= warm.done).map((s) => s[role]));
    for (const role of ['api', 'worker'] as const) {
      say(
        `${role}: ${warm[role].toFixed(0)} MB after the first tenth, ${end[role].toFixed(0)} MB at the end (${(((end[role] - warm[role]) / warm[role]) * 100).toFixed(1)} %), highest ${peak(role).toFixed(0)} MB`,
      );
    }
    say(`check: commands not succeeded ${failed}, accounts whose balance is not the sum of their credits ${wrong} of ${rows.length}`);
    client.close();
    await pool.end();
    return failed === 0 && wrong === 0 && rows.length === accounts.length ? 0 : 1;
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    await dropScratchDatabases(server).catch(() => {});
    await server.stop();
  }
}

process.on('exit', killAllChildrenNow);
process.on('SIGINT', () => process.exit(130));
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
