// npm run soak: the resident memory of the api and the worker while they take a million commands.
//
// The real `api` and `worker` processes, started as `npm run api` / `npm run worker` start them (their
// environment and node flags read from package.json; otherwise default settings, LOG_LEVEL=warn, as in
// `npm run bench`) take `--posts` credits as single `POST /v1/commands` from `--producers` closed-loop
// clients, then the rest of `--commands` through `POST /v1/commands/batch` (1,000 a request, the backlog
// kept under 20,000). VmRSS of both processes (/proc/<pid>/status) is sampled every second; the report gives
// it at every tenth of the commands, the median of the samples within each tenth (one sample can be a GC's
// low or a heap's high), and the growth of both from the first tenth (the processes warmed up) to the end.
// Then every command must have succeeded and every balance must equal the sum of its credits.
//
//   npm run soak -- [--commands 1000000] [--posts 200000] [--producers 8] [--accounts 1000]
//                   [--node-flags='--max-semi-space-size=8 ...'] [--child-env 'K=V ...'] [--probe]
//                   [--snapshot-at 300000,1000000]
//
// To tell a leak from V8's heap sizing (docs/performance.md, "Memory over a million commands"):
// `--node-flags` adds node flags to both children and `--child-env` environment variables (over the
// package.json ones); `--probe` loads scripts/memory-probe.ts into them (with --expose-gc), which logs their
// heap every second and their heap right after a full GC every 5 s, reported per tenth as well;
// `--snapshot-at` writes a heap snapshot of both children (SIGUSR2) once that many commands are applied (one
// not reached while sampling: at the end), into the log directory (compare two with scripts/heap-diff.ts).
//
// Uses DATABASE_URL when set (a scratch database is created and dropped there), else a throwaway embedded
// PostgreSQL. On a shared machine: flock /tmp/oncely-heavy.lock npm run soak
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../src/db/embedded.ts';
import { batchSubmit, closedLoop, httpClient, type Command } from './bench/http.ts';
import { observerPool, one, sleep } from './bench/measure.ts';
import { createDatabase, dropScratchDatabases, openServer } from './bench/postgres.ts';
import { killAllChildrenNow, ROOT, runChildrenWith, startApi, startWorker, type Child } from './bench/processes.ts';

const USAGE =
  "usage: npm run soak -- [--commands N] [--posts N] [--producers N] [--accounts N] [--node-flags '--flag ...'] [--child-env 'K=V ...'] [--probe] [--snapshot-at N,N]";
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
        'node-flags': { type: 'string', default: '' },
        'child-env': { type: 'string', default: '' },
        probe: { type: 'boolean', default: false },
        'snapshot-at': { type: 'string', default: '' },
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
    nodeFlags: values['node-flags'].split(/\s+/).filter((flag) => flag !== ''),
    childEnv: Object.fromEntries(
      values['child-env']
        .split(/\s+/)
        .filter((pair) => pair.includes('='))
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    ),
    probe: values.probe,
    snapshotAt: values['snapshot-at']
      .split(',')
      .filter((n) => n !== '')
      .map((n) => count('snapshot-at', n, 1, commands))
      .sort((a, b) => a - b),
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

/** utime + stime of a process from /proc/<pid>/stat, in seconds (NaN when it is gone). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return NaN;
  }
}

let ticks: number | undefined;
/** USER_HZ, the unit of /proc's CPU times. */
function clockTicks(): number {
  try {
    ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    ticks = 100;
  }
  return ticks;
}

interface Sample {
  t: number;
  done: number;
  api: number;
  worker: number;
}

/** The lines scripts/memory-probe.ts wrote for one child (missing file: none). */
function probeLines(file: string): { t: number; heapUsed: number; heapAfterGc?: number; rss: number }[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { t: number; heapUsed: number; heapAfterGc?: number; rss: number });
  } catch {
    return [];
  }
}

function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const mb = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(0));
const pct = (from: number, to: number) => `${to >= from ? '+' : ''}${(((to - from) / from) * 100).toFixed(1)} %`;

async function main(): Promise<number> {
  const options = settings();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const server = await openServer(process.env['DATABASE_URL'], say);
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'oncely-soak-'));
  say(`soak: ${options.commands} commands (${options.posts} single POSTs, the rest in batches), PostgreSQL ${server.version}; logs in ${logDir}`);
  const probeFile = (name: string) => path.join(logDir, `${name}.memory.jsonl`);
  runChildrenWith(
    [
      ...options.nodeFlags,
      ...(options.probe ? ['--expose-gc', '--import', path.join(ROOT, 'scripts/memory-probe.ts')] : []),
      ...(options.snapshotAt.length > 0 ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${logDir}`] : []),
    ],
    (name): Record<string, string> => ({ ...options.childEnv, ...(options.probe ? { ONCELY_MEMORY_PROBE: probeFile(name) } : {}) }),
  );
  if (Object.keys(options.childEnv).length > 0) say(`soak: environment of the api and the worker: ${JSON.stringify(options.childEnv)}`);
  if (options.nodeFlags.length > 0) say(`soak: node flags of the api and the worker: ${options.nodeFlags.join(' ')}`);
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
    const snapshotsDue = [...options.snapshotAt];
    const started = performance.now();
    const cpuAtStart = { api: cpuSeconds(api.pid), worker: cpuSeconds(worker.pid) };
    // The api's and the worker's CPU once the single POSTs are submitted (some of them are applied after).
    const cpuAfterPosts = { ...cpuAtStart };
    const sampler = setInterval(() => {
      void inFlight().then(
        (open) => {
          samples.push({ t: Date.now(), done: Math.max(0, submitted - open), api: rssMb(api.pid), worker: rssMb(worker.pid) });
          const last = samples.at(-1)!;
          if (snapshotsDue.length > 0 && last.done >= snapshotsDue[0]!) {
            snapshotsDue.shift();
            say(`\nsoak: heap snapshots of the api and the worker at ${last.done} applied`);
            for (const child of children) if (child.pid !== undefined) process.kill(child.pid, 'SIGUSR2');
          }
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
      cpuAfterPosts.api = cpuSeconds(api.pid);
      cpuAfterPosts.worker = cpuSeconds(worker.pid);
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
    if (snapshotsDue.length > 0) {
      say(`soak: heap snapshots of the api and the worker at the end (${submitted} applied)`);
      for (const child of children) if (child.pid !== undefined) process.kill(child.pid, 'SIGUSR2');
      // Writing a snapshot of a heap of some 100 MB takes a few seconds; the children stop only after.
      await sleep(15_000);
    }
    samples.push({ t: Date.now(), done: submitted, api: rssMb(api.pid), worker: rssMb(worker.pid) });
    const seconds = (performance.now() - started) / 1000;
    const cpuMs = (role: 'api' | 'worker') => (((role === 'api' ? cpuSeconds(api.pid) : cpuSeconds(worker.pid)) - cpuAtStart[role]) * 1000) / submitted;
    const postsCpuMs = (role: 'api' | 'worker') => ((cpuAfterPosts[role] - cpuAtStart[role]) * 1000) / options.posts;

    // Every command applied once: all succeeded, and each balance is the sum of its credits.
    const failed = Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM oncely.commands WHERE status <> 'succeeded'`)).n);
    const expected = new Map<string, number>();
    for (const c of credits) expected.set(c.entityId, (expected.get(c.entityId) ?? 0) + (c.payload['amount'] as number));
    const { rows } = await pool.query<{ id: string; balance: string }>(`/* oncely-bench observer */ SELECT id, balance::text FROM accounts`);
    const wrong = rows.filter((row) => Number(row.balance) !== (expected.get(row.id) ?? 0)).length;

    say(
      `soak: ${submitted} commands in ${seconds.toFixed(0)} s (${(submitted / seconds).toFixed(0)}/s); CPU per command (utime + stime): api ${cpuMs('api').toFixed(3)} ms, worker ${cpuMs('worker').toFixed(3)} ms` +
        (options.posts > 0
          ? ` (while the single POSTs were submitted: api ${postsCpuMs('api').toFixed(3)} ms, worker ${postsCpuMs('worker').toFixed(3)} ms a POST)`
          : '') +
        (options.snapshotAt.length > 0 ? ' (heap snapshots included)' : ''),
    );
    // Per tenth of the commands: RSS sampled when the tenth was reached, and the median of the samples
    // taken within the tenth; with --probe, the heap after the last full GC by the end of the tenth.
    const tenthOf = (s: Sample) => Math.min(10, Math.max(1, Math.ceil((s.done / options.commands) * 10)));
    const within = (tenth: number) => samples.filter((s) => s.done > 0 && tenthOf(s) === tenth);
    const probes = { api: probeLines(probeFile(api.name)), worker: probeLines(probeFile(worker.name)) };
    // The last reading of the heap after a full GC taken by the end of the tenth.
    const heapAfterGc = (role: 'api' | 'worker', tenth: number) => {
      const to = within(tenth).at(-1)?.t ?? 0;
      const reading = probes[role].filter((line) => line.heapAfterGc !== undefined && line.t <= to).at(-1);
      return reading ? reading.heapAfterGc! / 2 ** 20 : NaN;
    };
    const rows10 = Array.from({ length: 10 }, (_, i) => {
      const tenth = i + 1;
      const s = samples.find((sample) => sample.done >= (tenth / 10) * options.commands) ?? samples.at(-1)!;
      const inTenth = within(tenth);
      return {
        tenth,
        at: s,
        api: median(inTenth.map((x) => x.api)),
        worker: median(inTenth.map((x) => x.worker)),
        apiHeap: heapAfterGc('api', tenth),
        workerHeap: heapAfterGc('worker', tenth),
      };
    });
    say(`  applied   api RSS MB (median of tenth)   worker RSS MB (median of tenth)${options.probe ? '   heap after GC MB: api  worker' : ''}`);
    for (const row of rows10) {
      say(
        `${String(row.at.done).padStart(9)}   ${mb(row.at.api).padStart(10)} (${mb(row.api).padStart(4)})          ${mb(row.at.worker).padStart(13)} (${mb(row.worker).padStart(4)})` +
          (options.probe ? `        ${mb(row.apiHeap).padStart(4)}  ${mb(row.workerHeap).padStart(6)}` : ''),
      );
    }
    const first = rows10[0]!;
    const last = rows10[9]!;
    const end = samples.at(-1)!;
    const peak = (role: 'api' | 'worker') => Math.max(...samples.filter((s) => s.done >= first.at.done).map((s) => s[role]));
    for (const role of ['api', 'worker'] as const) {
      const heap = role === 'api' ? ([first.apiHeap, last.apiHeap] as const) : ([first.workerHeap, last.workerHeap] as const);
      say(
        `${role}: RSS ${mb(first.at[role])} MB after the first tenth, ${mb(end[role])} MB at the end (${pct(first.at[role], end[role])}), highest ${mb(peak(role))} MB; ` +
          `median of the first tenth ${mb(first[role])} MB, of the last ${mb(last[role])} MB (${pct(first[role], last[role])})` +
          (options.probe ? `; heap after GC ${mb(heap[0])} -> ${mb(heap[1])} MB (${pct(heap[0], heap[1])})` : ''),
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
