// Opens /docs in a real browser (Debian's chromium through playwright-core) and checks that it renders the whole
// OpenAPI document without errors and without fetching anything from elsewhere.
//
//   npx node scripts/check-docs-page.ts                 # serves the app in-process (no database needed for /docs)
//   npx node scripts/check-docs-page.ts --url http://127.0.0.1:3000 [--key KEY] [--screenshot /tmp/docs.png]
//
// Needs /usr/bin/chromium (apt-get install -y chromium). Exits non-zero on any failed check.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { createDefaultRegistry } from '../src/domains/index.ts';
import { createApp } from '../src/http/app.ts';
import { PROBLEMS } from '../src/http/problem.ts';

const { values } = parseArgs({ options: { url: { type: 'string' }, key: { type: 'string' }, screenshot: { type: 'string' } } });

let server: ServerType | undefined;
let base = values.url?.replace(/\/+$/, '');
if (!base) {
  const unused = () => Promise.reject(new Error('not needed for /docs'));
  const app = createApp({
    registry: createDefaultRegistry(),
    commands: { submit: unused, get: unused, waitFor: unused, deadLetters: unused, replay: unused },
    reads: { account: unused, ledger: unused, order: unused, redPacket: unused },
    ready: async () => true,
    apiKeys: [],
  });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
  if (!ok) failures.push(what);
};

const headers: Record<string, string> = values.key ? { authorization: `Bearer ${values.key}` } : {};
const document = (await (await fetch(`${base}/openapi.json`, { headers })).json()) as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
const operationCount = Object.values(document.paths).reduce((n, item) => n + Object.keys(item).length, 0);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const context = await browser.newContext({ extraHTTPHeaders: headers });
  const page = await context.newPage();
  const problems: string[] = [];
  const foreign: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    if (!request.url().startsWith(base)) foreign.push(request.url());
  });

  const response = await page.goto(`${base}/docs`, { waitUntil: 'load' });
  check(response?.status() === 200, `GET /docs answers 200 (got ${response?.status()})`);
  await page.waitForSelector('body[data-rendered="true"]', { timeout: 10_000 }).then(
    () => check(true, 'the page script rendered the document'),
    () => check(false, 'the page script rendered the document'),
  );
  check(problems.length === 0, `no console errors or page errors${problems.length ? `: ${problems.join(' | ')}` : ''}`);
  check(foreign.length === 0, `nothing fetched from another origin${foreign.length ? `: ${foreign.join(', ')}` : ''}`);
  check((await page.title()) === 'oncely API', `the title is "oncely API" (got "${await page.title()}")`);

  const rendered = await page.locator('section.operation[id^="op-"]').count();
  check(rendered === operationCount, `every operation has a section (${rendered} of ${operationCount})`);
  const schemas = await page.locator('section.schema-def').count();
  check(schemas === Object.keys(document.components.schemas).length, `every schema has a section (${schemas} of ${Object.keys(document.components.schemas).length})`);
  const navLinks = await page.locator('nav a[href^="#op-"]').count();
  check(navLinks === operationCount, `the side menu links every operation (${navLinks})`);

  const text = await page.locator('main').innerText();
  const missing = Object.keys(PROBLEMS).filter((code) => !text.includes(code));
  check(missing.length === 0, `every problem code is on the page${missing.length ? ` (missing ${missing.join(', ')})` : ''}`);
  const submit = page.locator('#op-submitCommand');
  const statuses = await submit.locator('tr.response').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-status')));
  check(statuses.join(',') === '200,202,400,401,413,415,422,500,503', `submitCommand lists its statuses (${statuses.join(',')})`);
  const variants = await submit.locator('details summary code').allInnerTexts();
  check(variants.includes('account.credit') && variants.length >= createDefaultRegistry().types.length, `the request body lists each command type (${variants.length})`);

  // A link in the menu moves the reader to its section.
  await page.click('nav a[href="#op-replayCommand"]');
  check(await page.locator('#op-replayCommand').isVisible(), 'menu links lead to visible sections');

  if (values.screenshot) {
    await page.screenshot({ path: values.screenshot, fullPage: false });
    process.stdout.write(`screenshot: ${values.screenshot}\n`);
  }
} finally {
  await browser.close();
  server?.close();
}

process.stdout.write(failures.length === 0 ? 'docs page: all checks passed\n' : `docs page: ${failures.length} check(s) failed\n`);
process.exit(failures.length === 0 ? 0 : 1);
