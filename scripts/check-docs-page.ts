// Opens /docs in a real browser (Debian's chromium through playwright-core) and checks that swagger-ui, served
// from this server, renders the whole OpenAPI document without errors and without fetching anything from elsewhere.
//
//   npx node scripts/check-docs-page.ts                 # serves the app in-process (no database needed for /docs)
//   npx node scripts/check-docs-page.ts --url http://127.0.0.1:3000 [--key KEY] [--screenshot /tmp/docs.png]
//
// Needs /usr/bin/chromium (apt-get install -y chromium). Exits non-zero on any failed check.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { createDefaultRegistry, referenceDomains } from '../src/domains/index.ts';
import { createApp } from '../src/http/app.ts';
import { PROBLEMS } from '../src/http/problem.ts';

/** The little of the DOM that the functions run in the page use: this project's tsconfig has no DOM lib. */
interface PageElement {
  readonly textContent: string | null;
  querySelector(selectors: string): PageElement | null;
  getAttribute(name: string): string | null;
}

const { values } = parseArgs({ options: { url: { type: 'string' }, key: { type: 'string' }, screenshot: { type: 'string' } } });

let server: ServerType | undefined;
let base = values.url?.replace(/\/+$/, '');
if (!base) {
  const unused = () => Promise.reject(new Error('not needed for /docs'));
  const app = createApp({
    registry: createDefaultRegistry(),
    commands: { submit: unused, get: unused, waitFor: unused, watch: () => ({ until: unused, close: () => {} }), deadLetters: unused, replay: unused },
    domains: referenceDomains,
    readContext: { db: undefined as never, sql: { query: unused } },
    ready: () => Promise.resolve(true),
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
const document = (await (await fetch(`${base}/openapi.json`, { headers })).json()) as {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> };
};
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
  check(/default-src 'none'/.test(response?.headers()['content-security-policy'] ?? ''), 'the page carries its Content-Security-Policy');
  await page.waitForSelector('body[data-rendered="true"]', { timeout: 20_000 }).then(
    () => check(true, 'swagger-ui rendered the document'),
    () => check(false, 'swagger-ui rendered the document'),
  );
  check((await page.title()) === 'oncely API', `the title is "oncely API" (got "${await page.title()}")`);

  // Every operation of the document, and nothing else, as an operation block (method + path).
  const expected = Object.entries(document.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
  const shown = (
    await page
      .locator('.opblock')
      .evaluateAll((blocks: PageElement[]) =>
        blocks.map(
          (block) =>
            `${block.querySelector('.opblock-summary-method')?.textContent ?? ''} ${block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? ''}`,
        ),
      )
  ).sort();
  check(shown.length === operationCount && shown.join('|') === expected.join('|'), `every operation is shown (${shown.length} of ${operationCount})`);

  const info = await page.locator('.information-container').innerText();
  const missing = Object.keys(PROBLEMS).filter((code) => !info.includes(code));
  check(missing.length === 0, `every problem code is on the page${missing.length ? ` (missing ${missing.join(', ')})` : ''}`);

  // Open submitCommand: its responses and the request body's schema, one variant per command type.
  const submit = page.locator('.opblock:has(.opblock-summary-path[data-path="/v1/commands"]).opblock-post');
  await submit.locator('.opblock-summary-control').click();
  await submit
    .locator('tr.response')
    .first()
    .waitFor({ timeout: 5000 })
    .catch(() => {});
  const statuses = await submit.locator('tr.response').evaluateAll((rows: PageElement[]) => rows.map((row) => row.getAttribute('data-code')));
  check(statuses.join(',') === '200,202,400,401,403,413,415,422,500,503', `submitCommand lists its statuses (${statuses.join(',')})`);
  const requestBody = submit.locator('.opblock-section-request-body');
  await requestBody.locator('button[data-name="model"]').click();
  // swagger-ui names a oneOf by its alternatives' types: one object per registered command type.
  const alternatives = /\(((?:object \| )*object)\)/.exec(await requestBody.innerText())?.[1]?.split(' | ').length ?? 0;
  const types = createDefaultRegistry().types.length;
  check(alternatives === types, `the request body's schema has one alternative per command type (${alternatives} of ${types})`);
  const example = await requestBody
    .locator('button[data-name="example"]')
    .click()
    .then(() => requestBody.innerText());
  check(example.includes('"type": "account.open"'), 'the request body has an example envelope');

  // The schemas section lists every component schema.
  await page.locator('.models-control').click();
  const listed = page.locator('section.models article[data-json-schema-level="0"] > .json-schema-2020-12-head .json-schema-2020-12__title');
  await listed
    .first()
    .waitFor({ timeout: 5000 })
    .catch(() => {});
  const schemas = (await listed.allInnerTexts()).filter((name) => name in document.components.schemas).length;
  const schemaCount = Object.keys(document.components.schemas).length;
  check(schemas === schemaCount, `every schema is listed (${schemas} of ${schemaCount})`);

  check(problems.length === 0, `no console errors or page errors${problems.length ? `: ${problems.join(' | ')}` : ''}`);
  check(foreign.length === 0, `nothing fetched from another origin${foreign.length ? `: ${foreign.join(', ')}` : ''}`);

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
