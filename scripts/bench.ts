// npm run bench: the end-to-end benchmark of oncely, with a plain pg-boss 12 baseline in the same run.
//
// Every scenario runs twice, each time in fresh scratch databases: against the real `api` and `worker`
// processes (default settings, LOG_LEVEL=warn), then against the baseline (scripts/bench/baseline.ts). The
// figures come from PostgreSQL (commands.submitted_at/completed_at, pgboss.job.created_on/completed_on,
// pg_stat_database, pg_stat_statements) and from /proc (CPU per command by role, scripts/bench/cost.ts). The
// history scenario runs oncely twice instead (over a seeded history, and empty). See docs/performance.md.
//
//   npm run bench -- [--scenarios credits,hot,transfers,wait,open,drain,history] [--scale 1] [--workers 1]
//                    [--producers 8] [--json out.json] [--timeout 900] [--stall 60] [--keep] [--cpu-prof DIR]
//                    [--oncely-env NAME=VALUE,...]
//
// Uses DATABASE_URL when set (scratch databases are created and dropped there), else a throwaway embedded
// PostgreSQL. Wrap heavy runs so that they never overlap others: flock /tmp/oncely-heavy.lock npm run bench
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runBaseline } from './bench/baseline.ts';
import { progressLine } from './bench/measure.ts';
import { runOncely } from './bench/oncely.ts';
import { dropScratchDatabases, openServer, type Server } from './bench/postgres.ts';
import { killAllChildrenNow, profileChildrenInto, ROOT, setExtraOncelyEnv } from './bench/processes.ts';
import { buildRows, renderScenario, type ScenarioReport } from './bench/report.ts';
import type { RunContext } from './bench/result.ts';
import { buildScenario, DEFAULT_SCENARIOS, parseScenarioList, SCENARIO_KEYS } from './bench/scenarios.ts';

const USAGE = `usage: npm run bench -- [options]
  --scenarios LIST   comma-separated, from ${SCENARIO_KEYS.join(', ')} (or 1-${SCENARIO_KEYS.length}); default ${DEFAULT_SCENARIOS.join(',')}
                     (the inbox-* scenarios need RabbitMQ, NATS JetStream or Redis on 127.0.0.1; history compares
                     oncely over 1,000,000 ended commands with oncely on an empty database, no baseline)
  --scale X          multiply every command count by X (e.g. 0.1); default 1
  --workers N        worker processes (oncely and baseline alike); default 1
  --producers N      concurrent HTTP producers of the closed-loop scenarios; default 8
  --json FILE        also write the figures as JSON to FILE
  --timeout S        bound of each system's run of a scenario, seconds; default 900
  --stall S          a run fails when no command ended for S seconds; default 60
  --keep             keep the scratch databases (DATABASE_URL only makes sense)
  --cpu-prof DIR     every api, worker and baseline worker writes a V8 CPU profile into DIR/<scenario>-<system>/<process>/
                     (read them with: node scripts/bench/profile-summary.ts DIR/...)
  --oncely-env LIST  comma-separated NAME=VALUE settings for every oncely process (e.g. WORKER_CONCURRENCY=2);
                     default none: oncely runs with its default settings
DATABASE_URL         a PostgreSQL server to use instead of an embedded one (scratch databases are created there)`;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function options() {
  let values;
  try {
    values = parseArgs({
      options: {
        scenarios: { type: 'string', default: DEFAULT_SCENARIOS.join(',') },
        scale: { type: 'string', default: '1' },
        workers: { type: 'string', default: '1' },
        producers: { type: 'string', default: '8' },
        json: { type: 'string' },
        timeout: { type: 'string', default: '900' },
        stall: { type: 'string', default: '60' },
        keep: { type: 'boolean', default: false },
        'cpu-prof': { type: 'string' },
        'oncely-env': { type: 'string', default: '' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const positive = (name: string, text: string, integer: boolean) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) fail(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${text}"`);
    return n;
  };
  let scenarios;
  try {
    scenarios = parseScenarioList(values.scenarios);
  } catch (err) {
    fail((err as Error).message);
  }
  return {
    scenarios,
    scale: positive('scale', values.scale, false),
    workers: positive('workers', values.workers, true),
    producers: positive('producers', values.producers, true),
    json: values.json,
    timeoutMs: positive('timeout', values.timeout, false) * 1000,
    stallMs: positive('stall', values.stall, false) * 1000,
    keep: values.keep,
    cpuProf: values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']),
    oncelyEnv: settingsList(values['oncely-env']),
  };
}

/** `A=1,B=2` as { A: '1', B: '2' }. */
function settingsList(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of text.split(',').filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0) fail(`--oncely-env takes NAME=VALUE items, got "${item}"`);
    env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return env;
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const opts = options();
const interrupted = new AbortController();
let server: Server | undefined;
let cleaningUp: Promise<void> | undefined;

/** Ends every child we started (by pid), drops leftover scratch databases, stops the embedded server. */
function cleanUp(): Promise<void> {
  cleaningUp ??= (async () => {
    killAllChildrenNow();
    if (server) {
      if (!opts.keep) await dropScratchDatabases(server);
      await server.stop().catch(() => {});
    }
  })();
  return cleaningUp;
}

process.on('exit', killAllChildrenNow);
let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    signals++;
    if (signals > 1) {
      killAllChildrenNow();
      process.exit(130);
    }
    process.stderr.write(`\nbench: ${signal}: stopping every process it started and cleaning up\n`);
    interrupted.abort(new Error(`interrupted by ${signal}`));
    void cleanUp().finally(() => process.exit(130));
  });
}

const progress = progressLine();
const say = (text: string) => {
  progress.done();
  process.stdout.write(`${text}\n`);
};

try {
  server = await openServer(process.env['DATABASE_URL'], (line) => progress.update(`bench: ${line}`));
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'oncely-bench-logs-'));
  const runId = `bench_${Date.now().toString(36)}`;
  const ctx: RunContext = {
    server,
    runId,
    logDir,
    workers: opts.workers,
    stallMs: opts.stallMs,
    timeoutMs: opts.timeoutMs,
    keepDatabases: opts.keep,
    progress: (text) => progress.update(text),
    signal: interrupted.signal,
  };
  say(
    `oncely bench: PostgreSQL ${server.version} (${server.kind}), scale ${opts.scale}, ${opts.workers} worker process(es), ${opts.producers} producers; ` +
      `statements per command: ${server.statementsAvailable ? 'pg_stat_statements' : `n/a (${server.statementsNote})`}; process logs in ${logDir}` +
      (Object.keys(opts.oncelyEnv).length > 0
        ? `; oncely settings ${Object.entries(opts.oncelyEnv)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}`
        : ''),
  );
  say('ratio = oncely / pg-boss: above 1 is better for rates, below 1 is better for latencies and statements.\n');

  if (opts.cpuProf) profileChildrenInto(opts.cpuProf);
  setExtraOncelyEnv(opts.oncelyEnv);
  const reports: ScenarioReport[] = [];
  for (const key of opts.scenarios) {
    const workload = buildScenario(key, { scale: opts.scale, producers: opts.producers });
    if (workload.historyRows) {
      // oncely over the seeded history against oncely on an empty database; no baseline.
      const withHistory = await runOncely(workload, ctx);
      interrupted.signal.throwIfAborted();
      const empty = await runOncely({ ...workload, key: `${key}-empty`, historyRows: undefined }, ctx);
      interrupted.signal.throwIfAborted();
      const report: ScenarioReport = {
        key,
        title: workload.title,
        commands: workload.commands.length,
        oncely: withHistory,
        baseline: empty,
        rows: buildRows(workload, withHistory, empty, server.statementsAvailable),
        labels: ['history', 'empty'],
      };
      reports.push(report);
      say(`${renderScenario(report)}\n`);
      continue;
    }
    const oncely = await runOncely(workload, ctx);
    interrupted.signal.throwIfAborted();
    const baseline = await runBaseline(workload, ctx);
    interrupted.signal.throwIfAborted();
    if (opts.cpuProf) {
      // The measured phase on the profiles' clock, so that profile-summary.ts leaves setup out.
      for (const [system, result] of [
        ['oncely', oncely],
        ['pgboss', baseline],
      ] as const) {
        if (!result.cost) continue;
        const dir = path.join(opts.cpuProf, `${key}-${system}`);
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, 'window.json'), `${JSON.stringify(result.cost.window)}\n`);
      }
    }
    const report: ScenarioReport = {
      key,
      title: workload.title,
      commands: workload.commands.length,
      oncely,
      baseline,
      rows: buildRows(workload, oncely, baseline, server.statementsAvailable),
    };
    reports.push(report);
    say(`${renderScenario(report)}\n`);
  }

  if (opts.json) {
    const document = {
      tool: 'oncely npm run bench',
      at: new Date().toISOString(),
      commit: gitCommit(),
      node: process.version,
      machine: { cpus: os.cpus().length, platform: `${os.platform()} ${os.arch()}` },
      postgres: { version: server.version, kind: server.kind, statements: server.statementsAvailable ? 'pg_stat_statements' : `n/a: ${server.statementsNote}` },
      settings: {
        scale: opts.scale,
        workers: opts.workers,
        producers: opts.producers,
        scenarios: opts.scenarios,
        timeoutSeconds: opts.timeoutMs / 1000,
        stallSeconds: opts.stallMs / 1000,
        oncelyEnv: opts.oncelyEnv,
      },
      scenarios: reports,
    };
    await writeFile(opts.json, `${JSON.stringify(document, null, 2)}\n`);
    say(`figures written to ${opts.json}`);
  }
  const bad = reports.filter((r) => !r.oncely.finished || !r.baseline.finished || !r.oncely.correctness.ok || !r.baseline.correctness.ok);
  if (bad.length > 0) say(`unfinished or incorrect: ${bad.map((r) => r.key).join(', ')}`);
  await cleanUp();
  process.exit(bad.length > 0 ? 1 : 0);
} catch (err) {
  progress.done();
  if (!interrupted.signal.aborted) process.stderr.write(`bench: ${(err as Error).message}\n`);
  await cleanUp();
  process.exit(interrupted.signal.aborted ? 130 : 1);
}
