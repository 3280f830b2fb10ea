// Opens /dashboard in a real browser (Debian's chromium through playwright-core) against a running system with
// an API key, and checks what an operator does there: enter the key, watch the figures move while commands
// flow, see a dead command in the dead-letter table and replay it with its button.
//
//   npx node scripts/check-dashboard.ts [--screenshot docs/dashboard.png]
//
// Uses DATABASE_URL when set (a scratch database is created there and dropped), else a throwaway embedded
// PostgreSQL. Needs /usr/bin/chromium (apt-get install -y chromium). Exits non-zero on any failed check.
import { serve, type ServerType } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { chromium, type Page } from 'playwright-core';
import { z } from 'zod';
import { parseConfig } from '../src/config.ts';
import { defineCommand } from '../src/core/command.ts';
import { Amount } from '../src/core/envelope.ts';
import { createRegistry } from '../src/core/registry.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.ts';
import { creditAccount } from '../src/domains/accounts/commands.ts';
import { createDefaultRegistry, referenceDomains } from '../src/domains/index.ts';
import { createLogger } from '../src/log.ts';
import { startSystem, type System } from '../src/system.ts';

const { values } = parseArgs({ options: { screenshot: { type: 'string' } } });
const KEY = `dashboard-check-${randomBytes(8).toString('hex')}`;

/** Credits like account.credit, but throws while the check keeps it broken: a dead letter on demand. */
let broken = true;
const flaky = defineCommand({
  type: 'check.flaky-credit',
  summary: 'credits, and fails while the dashboard check says it is broken',
  payload: z.strictObject({ amount: Amount }),
  plan: (command) => creditAccount.plan(command),
  decide(command, state) {
    if (broken) throw new Error('check.flaky-credit is broken for now');
    return creditAccount.decide(command, state);
  },
});

const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
  if (!ok) failures.push(what);
};
const log = (line: string) => process.stdout.write(`.. ${line}\n`);

/** Polls `read` until `done` holds or `ms` pass; the last value either way. */
async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

// The database: a scratch one on DATABASE_URL, or a throwaway embedded server.
let embedded: EmbeddedServer | undefined;
let scratchDir: string | undefined;
let adminUrl = process.env['DATABASE_URL'];
if (!adminUrl) {
  log('starting an embedded PostgreSQL ...');
  scratchDir = await mkdtemp(path.join(os.tmpdir(), 'oncely-dashboard-'));
  await chmod(scratchDir, 0o755);
  embedded = await startEmbeddedPostgres({ dataDir: path.join(scratchDir, 'pg'), persistent: false });
  adminUrl = embedded.url;
}
const database = `oncely_dashboard_${randomBytes(4).toString('hex')}`;
const withAdmin = async (sql: string) => {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
};
await withAdmin(`CREATE DATABASE ${database}`);
const url = new URL(adminUrl);
url.pathname = `/${database}`;

let system: System | undefined;
let server: ServerType | undefined;
let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
let traffic: Promise<void> | undefined;
let flowing = false;
try {
  const config = {
    ...parseConfig({ API_KEYS: KEY, LOG_LEVEL: 'silent', RETRY_LIMIT: '2', RETRY_DELAY_MAX_SECONDS: '1', POLL_INTERVAL_SECONDS: '0.5' }),
    DATABASE_URL: url.toString(),
  };
  system = await startSystem({
    config,
    roles: { api: true, worker: true },
    log: createLogger('silent', 'check-dashboard'),
    domains: referenceDomains,
    registry: createRegistry([...createDefaultRegistry().definitions(), flaky]),
  });
  const app = system.app!;
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log(`system on ${base}`);

  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const submit = (commands: unknown[]) => api('POST', '/v1/commands/batch', { commands });

  // Accounts to credit, then a steady flow of credits (and the odd resubmission) in the background.
  await submit(Array.from({ length: 20 }, (_, i) => ({ id: `open-${i}`, type: 'account.open', entityId: `acct-${i}`, payload: {} })));
  let sent = 0;
  const flow = async () => {
    while (flowing) {
      const batch: Record<string, unknown>[] = Array.from({ length: 40 }, (_, i) => ({
        id: `credit-${sent + i}`,
        type: 'account.credit',
        entityId: `acct-${(sent + i) % 20}`,
        payload: { amount: 1 },
      }));
      // The previous batch's first command again: a duplicate absorbed at submission.
      if (sent > 0) batch.push({ id: `credit-${sent - 40}`, type: 'account.credit', entityId: `acct-${(sent - 40) % 20}`, payload: { amount: 1 } });
      // A debit beyond the balance (rejected) and a credit at a stale version (conflict).
      batch.push({ id: `overdraw-${sent}`, type: 'account.debit', entityId: `acct-${sent % 20}`, payload: { amount: 1_000_000 } });
      batch.push({ id: `stale-${sent}`, type: 'account.credit', entityId: `acct-${sent % 20}`, expectedVersion: 1, payload: { amount: 1 } });
      await submit(batch);
      sent += 40;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  };

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 960 } });
  const page: Page = await context.newPage();
  const problems: string[] = [];
  const foreign: string[] = [];
  page.on('console', (message) => {
    // The page's own 401 before a key is entered is expected; anything else is not.
    if ((message.type() === 'error' || message.type() === 'warning') && !/status of 401/.test(message.text()))
      problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    if (!request.url().startsWith(base) && !request.url().startsWith('data:')) foreign.push(request.url());
  });

  const response = await page.goto(`${base}/dashboard`, { waitUntil: 'load' });
  check(response?.status() === 200, `GET /dashboard answers 200 without a key (got ${response?.status()})`);
  const keyForm = page.locator('#key-form');
  await keyForm.waitFor({ state: 'visible', timeout: 10_000 }).catch(() => {});
  check(await keyForm.isVisible(), 'the page asks for the API key (GET /v1/stats answered 401)');
  await page.fill('#key-input', 'not-the-key-0123456789');
  await page.click('#key-form button[type="submit"]');
  await waitFor(async () => (await page.locator('#key-message').innerText()).includes('refused'), Boolean, 5000);
  check((await page.locator('#key-message').innerText()).includes('refused'), 'a wrong key is refused and asked for again');
  await page.fill('#key-input', KEY);
  await page.click('#key-form button[type="submit"]');
  const updates = async () => Number((await page.locator('body').getAttribute('data-updates')) ?? 0);
  check((await waitFor(updates, (n) => n >= 1, 10_000)) >= 1, 'with the key, the page shows the figures');
  check((await page.evaluate<string | null>(`sessionStorage.getItem('oncely.apiKey')`)) === KEY, 'the key is kept in sessionStorage');
  check(!(await keyForm.isVisible()), 'the key form is gone');

  // Live numbers move while commands flow.
  const succeeded = async () => Number(await page.locator('#outcome-succeeded').innerText());
  const before = await succeeded();
  flowing = true;
  traffic = flow();
  const after = await waitFor(succeeded, (n) => n >= before + 200, 30_000);
  check(after >= before + 200, `the succeeded count moves while commands flow (${before} -> ${after})`);
  const rate = await waitFor(
    async () => Number(await page.locator('#completed-rate').innerText()),
    (n) => n > 0,
    10_000,
  );
  check(rate > 0, `completed / s shows the flow (${rate})`);
  const bars = await page.locator('#chart rect').count();
  check(bars > 0, `the chart draws the throughput (${bars} bars)`);
  const p50 = await page.locator('#p50').innerText();
  check(/\d/.test(p50), `latency percentiles are shown (p50 ${p50})`);
  const resubmissions = await waitFor(
    async () => Number(await page.locator('#duplicates tr[data-stage="resubmission"] td.num').first().innerText()),
    (n) => n > 0,
    10_000,
  );
  check(resubmissions > 0, `duplicates absorbed at resubmission are counted (${resubmissions})`);

  // A command that dies shows up in the dead-letter table.
  const dead = 'flaky-1';
  await submit([{ id: dead, type: 'check.flaky-credit', entityId: 'acct-0', payload: { amount: 5 } }]);
  const row = page.locator(`#dead-letters tr[data-id="${dead}"]`);
  await row.waitFor({ state: 'visible', timeout: 30_000 }).catch(() => {});
  check(await row.isVisible(), 'the dead command is listed in the dead-letter table');
  check(Number(await page.locator('#dead-count').innerText()) >= 1, 'the dead-letter count shows it');

  if (values.screenshot) {
    // A few buckets of traffic, so the chart shows a flow rather than a spike.
    await waitFor(
      () => page.locator('#chart rect[fill="var(--succeeded)"]').count(),
      (n) => n >= 5,
      40_000,
    );
    await page.screenshot({ path: values.screenshot, fullPage: true });
    log(`screenshot: ${values.screenshot}`);
  }

  // Mend the handler, press Replay: the command leaves the table and succeeds.
  broken = false;
  await row.locator('button[data-replay]').click();
  await row.waitFor({ state: 'detached', timeout: 15_000 }).catch(() => {});
  check((await row.count()) === 0, 'after Replay the command leaves the dead-letter table');
  check((await page.locator('#replay-message').innerText()).includes('queued again'), 'the page says the command was queued again');
  const status = await waitFor(
    async () => (await api('GET', `/v1/commands/${dead}`)).body['status'],
    (s) => s === 'succeeded',
    15_000,
  );
  check(status === 'succeeded', `the replayed command succeeded (${String(status)})`);

  flowing = false;
  await traffic;
  check(problems.length === 0, `no console errors or page errors${problems.length ? `: ${problems.join(' | ')}` : ''}`);
  check(foreign.length === 0, `nothing fetched from another origin${foreign.length ? `: ${foreign.join(', ')}` : ''}`);
} catch (err) {
  check(false, `the check ran to the end (${(err as Error).message})`);
} finally {
  flowing = false;
  await traffic?.catch(() => {});
  await browser?.close();
  server?.close();
  await system?.stop();
  await withAdmin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
  await embedded?.stop();
  if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
}

process.stdout.write(failures.length === 0 ? 'dashboard: all checks passed\n' : `dashboard: ${failures.length} check(s) failed\n`);
process.exit(failures.length === 0 ? 0 : 1);
