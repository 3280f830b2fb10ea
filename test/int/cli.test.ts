// The `oncely` CLI run as a real process against a real database: every command answers with the right
// exit code and one plain line on bad input, replays dead commands until they finish, and purges only
// ended commands past the cutoff, never a queued or retrying one and never a business row.
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandStatus } from '../../src/core/envelope.ts';
import type { NewCommand } from '../../src/processor/submit.ts';
import type { System } from '../../src/system.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { businessCounts, insertCommands, runCli, storedIds, type CliRun } from '../helpers/cli.ts';
import { startTestSystem, waitForTerminal } from '../helpers/system.ts';

const db = useTestDatabase();
let system: System;
let env: Record<string, string>;

const oncely = (...args: string[]) => runCli(args, env);

/** A refusal as the CLI must print it: exactly one line, prefixed, no stack trace, nothing on stdout. */
function expectOneLine(run: CliRun, code: number, pattern: RegExp): void {
  expect(run.code, run.stderr).toBe(code);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^oncely: /);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stdout).toBe('');
}

async function applied(command: Omit<NewCommand, 'expectedVersion'>): Promise<void> {
  await system.commands.submit('anonymous', [{ ...command, expectedVersion: undefined }]);
  const status = await waitForTerminal(db.pool, command.id);
  expect(status.status).toBe('succeeded');
}

beforeAll(async () => {
  env = { DATABASE_URL: db.url };
  system = await startTestSystem(db.url);
  // One row in every business table, made by real commands.
  await applied({ id: 'open-alice', type: 'account.open', entityId: 'alice', payload: {} });
  await applied({ id: 'credit-alice', type: 'account.credit', entityId: 'alice', payload: { amount: 500 } });
  await applied({ id: 'create-order', type: 'order.create', entityId: 'order-1', payload: { accountId: 'alice', amount: 100 } });
  await applied({ id: 'issue-packet', type: 'redPacket.issue', entityId: 'packet-1', payload: { orderId: 'order-1', accountId: 'alice', amount: 10 } });
});

describe('oncely help and bad usage', () => {
  it('prints the global help with every command, and each command its own help, exit 0', async () => {
    const help = await oncely('--help');
    expect(help.code).toBe(0);
    for (const name of ['status', 'dead-letters', 'replay', 'stats', 'purge', 'migrate']) expect(help.stdout).toContain(`  ${name}`);
    const statusHelp = await oncely('status', '--help');
    expect(statusHelp.code).toBe(0);
    expect(statusHelp.stdout).toMatch(/^usage: oncely status <id>/);
    const viaHelp = await oncely('help', 'purge');
    expect(viaHelp.stdout).toMatch(/^usage: oncely purge --older-than/);
  });

  it('refuses bad input with exit 2 and one line, before touching the database', async () => {
    expectOneLine(await oncely(), 2, /no command given/);
    expectOneLine(await oncely('frobnicate'), 2, /unknown command 'frobnicate'/);
    expectOneLine(await oncely('status'), 2, /status needs a command id/);
    expectOneLine(await oncely('status', 'a', 'b'), 2, /unexpected argument 'b'/);
    expectOneLine(await oncely('status', 'bad id!'), 2, /command id 'bad id!' is not valid/);
    expectOneLine(await oncely('status', 'x', '--bogus'), 2, /unknown option --bogus/);
    expectOneLine(await oncely('dead-letters', '--limit', '0'), 2, /--limit must be a whole number from 1 to 1000/);
    expectOneLine(await oncely('dead-letters', '--limit'), 2, /--limit needs a value/);
    expectOneLine(await oncely('replay'), 2, /replay needs a command id, or --all-dead/);
    expectOneLine(await oncely('replay', 'x', '--all-dead'), 2, /either a command id or --all-dead/);
    expectOneLine(await oncely('purge'), 2, /purge needs --older-than/);
    expectOneLine(await oncely('purge', '--older-than', '7 days'), 2, /'7 days' is not a duration/);
    expectOneLine(await oncely('purge', '--older-than', '0d'), 2, /is not a duration/);
    // A bad configuration is bad usage too, with the variable named.
    expectOneLine(await runCli(['stats'], { DATABASE_URL: 'mysql://nope' }), 2, /DATABASE_URL/);
  });

  it('says in one line that it cannot connect when the database is down, exit 1', async () => {
    const run = await runCli(['status', 'open-alice'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/oncely' });
    expectOneLine(run, 1, /cannot connect to the database: connection refused/);
  });

  it('runs through the bin launcher (bin/oncely.js) the same way', async () => {
    const help = await runCli(['--help'], env, 'bin/oncely.js');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: oncely <command>/);
    expectOneLine(await runCli(['purge', '--older-than', 'soon'], env, 'bin/oncely.js'), 2, /not a duration/);
  });
});

describe('oncely status', () => {
  it('prints the CommandStatus of a command, as JSON with --json', async () => {
    const json = await oncely('status', 'credit-alice', '--json');
    expect(json.code).toBe(0);
    const status = CommandStatus.parse(JSON.parse(json.stdout));
    expect(status).toMatchObject({ id: 'credit-alice', type: 'account.credit', status: 'succeeded', result: { balance: 500 } });
    const text = await oncely('status', 'credit-alice');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/status\s+succeeded/);
  });

  it("answers exit 1 and one line for an unknown id, or another client's id", async () => {
    expectOneLine(await oncely('status', 'no-such-command'), 1, /no command 'no-such-command' for client 'anonymous'/);
    expectOneLine(await oncely('status', 'credit-alice', '--client', 'someone-else', '--json'), 1, /for client 'someone-else'/);
  });
});

describe('oncely dead-letters and replay', () => {
  it('lists dead commands oldest first, bounded by --limit, with the total', async () => {
    await insertCommands(db.pool, [
      { clientId: 'dl', id: 'dl-old', status: 'dead', completedAgo: '2 hours' },
      { clientId: 'dl', id: 'dl-new', status: 'dead', completedAgo: '1 hour' },
      { clientId: 'dl', id: 'dl-done', status: 'succeeded', completedAgo: '3 hours' },
    ]);
    const all = await oncely('dead-letters', '--client', 'dl', '--json');
    expect(all.code).toBe(0);
    const page = JSON.parse(all.stdout) as { total: number; items: Array<{ id: string; clientId: string; status: string }> };
    expect(page.total).toBe(2);
    expect(page.items.map((item) => item.id)).toEqual(['dl-old', 'dl-new']);
    expect(page.items.every((item) => item.clientId === 'dl' && item.status === 'dead')).toBe(true);
    const one = JSON.parse((await oncely('dead-letters', '--client', 'dl', '--limit', '1', '--json')).stdout) as { total: number; items: unknown[] };
    expect(one).toMatchObject({ total: 2 });
    expect(one.items).toHaveLength(1);
    const text = await oncely('dead-letters', '--client', 'dl');
    expect(text.stdout).toContain('dl-old');
    expect(text.stdout).toContain('2 of 2 dead commands');
  });

  it('replays one dead command (it then succeeds) and refuses one that is not dead or does not exist, exit 1', async () => {
    await insertCommands(db.pool, [{ id: 'open-dead-bob', entityId: 'bob', status: 'dead', completedAgo: '1 minute' }]);
    const run = await oncely('replay', 'open-dead-bob', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(CommandStatus.parse(JSON.parse(run.stdout)).status).toBe('queued');
    expect((await waitForTerminal(db.pool, 'open-dead-bob')).status).toBe('succeeded');
    expectOneLine(await oncely('replay', 'open-dead-bob'), 1, /is succeeded, not dead/);
    expectOneLine(await oncely('replay', 'never-submitted'), 1, /no command 'never-submitted'/);
  });

  it('replays every dead command with --all-dead, and each then finishes exactly once', async () => {
    const ids = Array.from({ length: 5 }, (_, i) => `reopen-${i}`);
    await insertCommands(
      db.pool,
      ids.map((id, i) => ({ clientId: 'replayer', id, entityId: `acct-replayed-${i}`, status: 'dead' as const, completedAgo: `${i + 1} minutes` })),
    );
    const run = await oncely('replay', '--all-dead', '--client', 'replayer', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ replayed: 5, skipped: 0 });
    for (const id of ids) expect((await waitForTerminal(db.pool, id, 30_000, 'replayer')).status).toBe('succeeded');
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM accounts WHERE id LIKE 'acct-replayed-%'`);
    expect(rows[0]?.n).toBe(5);
    // Nothing dead is left for that client: a second run has nothing to do.
    expect(JSON.parse((await oncely('replay', '--all-dead', '--client', 'replayer', '--json')).stdout)).toEqual({ replayed: 0, skipped: 0 });
  });
});

describe('oncely stats and migrate', () => {
  it('counts by status and type as the table holds them, and says where duplicates are counted', async () => {
    const run = await oncely('stats', '--json');
    expect(run.code, run.stderr).toBe(0);
    const stats = JSON.parse(run.stdout) as {
      byStatus: Record<string, number>;
      byType: Record<string, { total: number }>;
      queueDepth: number;
      deadLetters: number;
      duplicates: { stored: boolean; note: string };
    };
    const { rows } = await db.pool.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM oncely.commands GROUP BY status`);
    for (const { status, n } of rows) expect(stats.byStatus[status]).toBe(n);
    const { rows: types } = await db.pool.query<{ type: string; n: number }>(`SELECT type, count(*)::int AS n FROM oncely.commands GROUP BY type`);
    for (const { type, n } of types) expect(stats.byType[type]?.total).toBe(n);
    expect(stats.deadLetters).toBe(stats.byStatus['dead']);
    expect(stats.queueDepth).toBe((stats.byStatus['queued'] ?? 0) + (stats.byStatus['retrying'] ?? 0));
    expect(stats.duplicates.stored).toBe(false);
    expect(stats.duplicates.note).toContain('/metrics');
    const text = await oncely('stats');
    expect(text.stdout).toContain('account.credit');
    expect(text.stdout).toMatch(/dead letters\s+\d+/);
  });

  it('migrates an already current schema without complaint', async () => {
    const run = await oncely('migrate', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ schema: 'current' });
  });
});

describe('oncely purge', () => {
  it('deletes only ended commands past the cutoff, in batches, never a queued or retrying one nor a business row', async () => {
    // No worker from here on: nothing may change the rows but the purge.
    await system.stop();
    const old = ['succeeded', 'rejected', 'conflict', 'dead'] as const;
    await insertCommands(db.pool, [
      ...old.map((status) => ({ clientId: 'purge', id: `old-${status}`, status, completedAgo: '10 days' })),
      ...old.map((status) => ({ clientId: 'purge', id: `recent-${status}`, status, completedAgo: '6 days' })),
      { clientId: 'purge', id: 'waiting', status: 'queued', completedAgo: null },
      { clientId: 'purge', id: 'backing-off', status: 'retrying', completedAgo: null },
      // Not a state the processor writes, but if it were: a command that has not ended is never purged.
      { clientId: 'purge', id: 'odd-queued', status: 'queued', completedAgo: '30 days' },
      { clientId: 'purge', id: 'odd-retrying', status: 'retrying', completedAgo: '30 days' },
    ]);
    // More than two batches' worth of old ended commands.
    await db.pool.query(
      `INSERT INTO oncely.commands (client_id, id, type, entity_id, payload, fingerprint, status, completed_at)
       SELECT 'bulk', 'bulk-' || i, 'account.credit', 'alice', '{"amount":1}', 'by-hand', 'succeeded', now() - interval '8 days'
       FROM generate_series(1, 2345) AS i`,
    );
    const business = await businessCounts(db.pool);
    const total = (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands`)).rows[0]!.n;

    const dry = await oncely('purge', '--older-than', '7d', '--dry-run', '--json');
    expect(JSON.parse(dry.stdout)).toMatchObject({ purged: 2345 + 4, dryRun: true });
    expect((await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands`)).rows[0]!.n).toBe(total);

    const run = await oncely('purge', '--older-than', '7d', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ purged: 2345 + 4, dryRun: false });
    expect(await storedIds(db.pool, 'purge')).toEqual(['backing-off', 'odd-queued', 'odd-retrying', ...old.map((status) => `recent-${status}`), 'waiting'].sort());
    expect(await storedIds(db.pool, 'bulk')).toEqual([]);
    expect((await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands`)).rows[0]!.n).toBe(total - 2345 - 4);
    expect(await businessCounts(db.pool)).toEqual(business);
    // The reference commands of this file ended moments ago: they stay.
    expect((await oncely('status', 'credit-alice', '--json')).code).toBe(0);

    const again = await oncely('purge', '--older-than', '7d');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^purged 0 ended commands older than 7d/);
  });
});
