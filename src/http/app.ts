import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { routePath } from 'hono/route';
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { API_SCOPES, type ApiKeyEntry, type ApiScope } from '../core/api-keys.ts';
import { Identifier, isTerminal, type CommandStatus } from '../core/envelope.ts';
import type { AnyRead, Domain, EntityRead, PageRead, ReadContext } from '../core/domain.ts';
import type { Registry } from '../core/registry.ts';
import type { CommandService } from '../processor/commands.ts';
import { isRetryable } from '../processor/errors.ts';
import { DASHBOARD_CSP, DASHBOARD_PAGE } from './dashboard-page.ts';
import { createDocsAssets, DOCS_CSP, DOCS_PAGE } from './docs-page.ts';
import { createMetrics, type Metrics } from '../metrics/registry.ts';
import { metricsResponse } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { fieldErrors, problem, sendProblem, type Problem } from './problem.ts';
import { createReadRoutes, createRoutes } from './routes.ts';
import { batchRequestSchema, MAX_BODY_BYTES, MAX_WAIT_SECONDS, PageQuery, StatsSchema, type Stats } from './schemas.ts';
import { checkEnvelope, entityTagOf, versionOfEntityTag } from './validate.ts';

export { MAX_BATCH, MAX_BODY_BYTES } from './schemas.ts';

export interface AppDeps {
  registry: Registry;
  commands: CommandService;
  /** The domains whose reads are served (`GET /v1/{collection}/{id}` and their paged sub-resources). */
  domains: readonly Pick<Domain, 'reads'>[];
  /** What those reads run against: a drizzle database and parameterised SQL over the app's pool. */
  readContext: ReadContext;
  /** Whether the database answers and the schema is current. */
  ready: () => Promise<boolean>;
  /** API_KEYS: bare keys (each a client of its own, every scope) or entries naming their client and scopes. */
  apiKeys: readonly (string | ApiKeyEntry)[];
  /**
   * The most requests that may hold a `Prefer: wait` at once in this process (default 1000). Beyond it the
   * preference is ignored: the response comes at once, without `Preference-Applied` (RFC 7240 lets a server
   * ignore a preference, and the command is stored either way, so refusing the request would only mislead).
   */
  maxWaiters?: number;
  /**
   * Aborted when the process stops: every open wait is answered at once with its command's status as it is
   * then, so the server can close without holding requests for up to 30 s.
   */
  stopping?: AbortSignal;
  /** Where requests, waits and refused submissions are counted (default: a registry of the app's own). */
  metrics?: Metrics;
  /** The live figures of `GET /v1/stats` for a client; without it the route answers 503. */
  stats?: (clientId: string) => Promise<Stats>;
  /** Runs first around every request: the server span of a submission (src/tracing/http.ts); absent when tracing is off. */
  traceRequests?: MiddlewareHandler;
  onError?: (err: unknown) => void;
}

export type AppEnv = { Variables: { clientId: string } };

/** A bare key's client id: a digest of the key, so the key itself is never stored. */
export function clientIdOf(apiKey: string): string {
  return `key-${createHash('sha256').update(apiKey).digest('hex').slice(0, 16)}`;
}

/**
 * The client id an API_KEYS entry stands for: a named client's name (so its keys share one id and a key can
 * be rotated without losing its commands), else the bare key's digest (the id bare keys always had).
 *
 * @example
 * clientIdOfEntry({ client: 'billing', key: 'k1...', scopes: ['submit'] }); // 'billing'
 */
export function clientIdOfEntry(entry: string | ApiKeyEntry): string {
  if (typeof entry === 'string') return clientIdOf(entry);
  return entry.client ?? clientIdOf(entry.key);
}

export const ANONYMOUS = 'anonymous';

const SCOPE_ACTIONS: Record<ApiScope, string> = { submit: 'submit commands', read: 'read commands or entities', operate: 'read dead letters, replay or read stats' };

/** `Prefer: wait=N` with 0 < N <= 30, else undefined (an unusable preference is ignored, RFC 7240). */
export function preferredWait(header: string | undefined): number | undefined {
  const match = header && /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6}(?:\.\d{1,6})?)"?\s*(?:[,;]|$)/i.exec(header);
  if (!match?.[1]) return undefined;
  const seconds = Number(match[1]);
  return seconds > 0 && seconds <= MAX_WAIT_SECONDS ? seconds : undefined;
}

/** Whether an `If-None-Match` header names the entity at `version` (weak comparison, RFC 9110). */
function noneMatch(header: string | undefined, version: number): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => versionOfEntityTag(tag) === version);
}

type JsonBody = { ok: true; value: unknown } | { ok: false; problem: Problem };

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]*\+)?json\s*(?:;|$)/i;

/**
 * The HTTP API as a Hono app, with no server attached: `app.request()` in tests, `serve()` in main.
 * Every route comes from `createRoutes`, which is also what `/openapi.json` is generated from.
 *
 * @example
 * const app = createApp({ registry, commands, domains: referenceDomains, readContext: { db, sql }, ready, apiKeys: [] });
 * const res = await app.request('/health/live');
 */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const routes = createRoutes(deps.registry);
  const maxWaiters = deps.maxWaiters ?? 1000;
  let waiting = 0;
  /** Open waits per client, for each client's share of the slots. */
  const waitingBy = new Map<string, number>();
  const metrics = deps.metrics ?? createMetrics({ commandTypes: deps.registry.types });
  metrics.waitingLimit(maxWaiters);
  const keys = deps.apiKeys.map((entry) => ({
    digest: createHash('sha256')
      .update(typeof entry === 'string' ? entry : entry.key)
      .digest(),
    clientId: clientIdOfEntry(entry),
    scopes: typeof entry === 'string' ? API_SCOPES : entry.scopes,
  }));
  const served: RouteConfig[] = [];
  // Each client may hold an equal share of the slots (the only client, without API_KEYS, all of them). The
  // shares add up to the cap, so a client under its share always finds a slot however busy the others are.
  const clientCount = Math.max(1, new Set(keys.map((key) => key.clientId)).size);
  const waitShare = Math.max(1, Math.floor(maxWaiters / clientCount));
  /** The scopes of the key a request was authenticated with (none recorded: no keys configured, every scope). */
  const scopesOf = new WeakMap<Request, readonly ApiScope[]>();

  /** Serves a declared route and puts it in the OpenAPI document: the one place a route is registered. */
  function serve(route: RouteConfig, ...handlers: ((c: Context<AppEnv>, next: Next) => Response | Promise<Response | void>)[]) {
    served.push(route);
    app.openAPIRegistry.registerPath(route);
    app.on(route.method.toUpperCase(), route.path.replaceAll(/\{(\w+)\}/g, ':$1'), ...(handlers as [MiddlewareHandler<AppEnv>, ...MiddlewareHandler<AppEnv>[]]));
  }

  /** The methods a path takes, for 405 and Allow (HEAD comes with GET). Built once every route is served. */
  let patterns: { method: string; regex: RegExp }[] | undefined;
  function allowedMethods(path: string): string[] {
    patterns ??= served.map((route) => ({
      method: route.method.toUpperCase(),
      regex: new RegExp(`^${route.path.replaceAll(/\{\w+\}/g, '[^/]+').replaceAll('.', '\\.')}$`),
    }));
    const methods = new Set(patterns.filter((p) => p.regex.test(path)).map((p) => p.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods];
  }

  app.onError((err, c) => {
    deps.onError?.(err);
    if (isRetryable(err)) {
      return sendProblem(c, problem('service_unavailable', 'the database is unavailable for a moment; retry the request (it is idempotent)'), { 'retry-after': '1' });
    }
    return sendProblem(c, problem('internal_error', 'the server could not complete the request'));
  });

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = allowedMethods(path);
    if (allowed.length === 0) return sendProblem(c, problem('not_found', 'no such route'));
    if (c.req.method === 'OPTIONS') return c.body(null, 204, { allow: [...allowed, 'OPTIONS'].join(', ') });
    return sendProblem(c, problem('method_not_allowed', `this path takes ${allowed.join(', ')}`), { allow: allowed.join(', ') });
  });

  if (deps.traceRequests) app.use('*', deps.traceRequests);

  app.use('*', async (c: Context<AppEnv>, next) => {
    const started = performance.now();
    await next();
    const route = routePath(c, -1);
    metrics.httpRequest(c.req.method, route === '*' || route === '' ? 'unmatched' : route, c.res.status, (performance.now() - started) / 1000);
  });

  app.use('*', async (c: Context<AppEnv>, next) => {
    const path = new URL(c.req.url).pathname;
    // The dashboard's page holds no data (its every fetch sends the key), so a browser can load it to ask for one.
    if (keys.length === 0 || path.startsWith('/health/') || path === '/dashboard') {
      c.set('clientId', ANONYMOUS);
      return next();
    }
    const match = /^Bearer +([\x21-\x7e]{1,512})$/i.exec(c.req.header('authorization') ?? '');
    const given = createHash('sha256')
      .update(match?.[1] ?? '')
      .digest();
    // Compare digests in constant time against every key, so timing tells nothing about which key is close.
    let found: (typeof keys)[number] | undefined;
    for (const key of keys) if (timingSafeEqual(given, key.digest) && match) found = key;
    if (!found) {
      return sendProblem(c, problem('unauthorized', 'a valid API key is required: Authorization: Bearer <key>'), { 'www-authenticate': 'Bearer' });
    }
    c.set('clientId', found.clientId);
    // Kept beside the request, not in its variables: the app's public type (oncely.app) stays as it was.
    scopesOf.set(c.req.raw, found.scopes);
    return next();
  });

  /** A route's scope: a key without it is answered 403 (the key is valid, so 401 would mislead). */
  const needs =
    (scope: ApiScope): MiddlewareHandler<AppEnv> =>
    async (c, next) => {
      if (!(scopesOf.get(c.req.raw) ?? (keys.length === 0 ? API_SCOPES : [])).includes(scope))
        return sendProblem(c, problem('forbidden', `this API key may not ${SCOPE_ACTIONS[scope]} (it lacks the ${scope} scope)`));
      return next();
    };

  // The media type is checked before the body is read; the size is checked while it is read.
  const jsonOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!JSON_TYPE.test(c.req.header('content-type') ?? '')) return sendProblem(c, problem('unsupported_media_type', 'send the body as application/json'));
    return next();
  };
  const limited = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => sendProblem(c, problem('payload_too_large', `the body is over ${MAX_BODY_BYTES} bytes`)),
  });

  async function readJson(c: Context<AppEnv>): Promise<JsonBody> {
    const text = await c.req.text();
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch {
      return { ok: false, problem: problem('invalid_request', 'the body is not valid JSON', { errors: [{ path: '(root)', message: 'malformed JSON' }] }) };
    }
  }

  function parseQuery<T extends z.ZodType>(c: Context<AppEnv>, schema: T): { ok: true; value: z.output<T> } | { ok: false; problem: Problem } {
    const parsed = schema.safeParse(c.req.query());
    if (parsed.success) return { ok: true, value: parsed.data };
    return { ok: false, problem: problem('invalid_request', 'a query parameter is not valid', { errors: fieldErrors(parsed.error.issues) }) };
  }

  /** The `{id}` path parameter; an id outside the alphabet cannot exist, so it is simply not found. */
  const idOf = (c: Context<AppEnv>): string | undefined => {
    const id = c.req.param('id');
    return id !== undefined && Identifier.safeParse(id).success ? id : undefined;
  };

  async function withWait(c: Context<AppEnv>, id: string, status: CommandStatus): Promise<{ status: CommandStatus; waited?: number }> {
    const seconds = preferredWait(c.req.header('prefer'));
    const clientId = c.get('clientId');
    const mine = waitingBy.get(clientId) ?? 0;
    if (seconds === undefined || isTerminal(status.status) || waiting >= maxWaiters || mine >= waitShare || deps.stopping?.aborted) return { status };
    waiting++;
    waitingBy.set(clientId, mine + 1);
    metrics.waiting(1);
    try {
      // Ends early when the client disconnects (its slot is freed at once) or the process stops.
      const signal = deps.stopping ? AbortSignal.any([c.req.raw.signal, deps.stopping]) : c.req.raw.signal;
      const latest = await deps.commands.waitFor(clientId, id, seconds, signal);
      return { status: latest ?? status, waited: seconds };
    } finally {
      waiting--;
      const left = (waitingBy.get(clientId) ?? 1) - 1;
      if (left > 0) waitingBy.set(clientId, left);
      else waitingBy.delete(clientId);
      metrics.waiting(-1);
    }
  }

  const location = (id: string) => `/v1/commands/${encodeURIComponent(id)}`;

  /** A submission refused before it reached the command service: counted by its type if that is registered, else "unknown". */
  const typeOf = (raw: unknown) => (typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined);

  serve(routes.submitCommand, needs('submit'), jsonOnly, limited, async (c) => {
    const body = await readJson(c);
    if (!body.ok) {
      metrics.submitted(undefined, 'rejected');
      return sendProblem(c, body.problem);
    }
    const checked = checkEnvelope(body.value, deps.registry, { idempotencyKey: c.req.header('idempotency-key'), ifMatch: c.req.header('if-match') });
    if (!checked.ok) {
      metrics.submitted(typeOf(body.value), 'rejected');
      return sendProblem(c, checked.problem);
    }
    const [submission] = await deps.commands.submit(c.get('clientId'), [checked.command]);
    if (!submission) throw new Error('submission returned nothing');
    if (submission.outcome === 'reused') {
      return sendProblem(c, problem('idempotency_key_reused', `command ${checked.command.id} was already submitted with a different request`));
    }
    const { status, waited } = await withWait(c, checked.command.id, submission.status);
    const headers: Record<string, string> = { location: location(status.id) };
    if (waited !== undefined) headers['preference-applied'] = `wait=${waited}`;
    if (submission.outcome === 'duplicate') headers['idempotent-replayed'] = 'true';
    return c.json(status, isTerminal(status.status) ? 200 : 202, headers);
  });

  // Each envelope is checked on its own (one bad envelope rejects only itself); the body only has to be a list.
  const batchBody = batchRequestSchema(z.unknown());
  serve(routes.submitBatch, needs('submit'), jsonOnly, limited, async (c) => {
    const body = await readJson(c);
    if (!body.ok) return sendProblem(c, body.problem);
    const parsed = batchBody.safeParse(body.value);
    if (!parsed.success) {
      return sendProblem(c, problem('invalid_request', 'the body must be { "commands": [...] } with 1 to 1000 envelopes', { errors: fieldErrors(parsed.error.issues) }));
    }
    const list = parsed.data.commands;
    const checked = list.map((item) => checkEnvelope(item, deps.registry));
    const valid = checked.flatMap((item) => (item.ok ? [item.command] : []));
    const submissions = valid.length > 0 ? await deps.commands.submit(c.get('clientId'), valid) : [];
    let next = 0;
    const results = checked.map((item, i) => {
      if (!item.ok) {
        metrics.submitted(typeOf(list[i]), 'rejected');
        const raw = list[i] as { id?: unknown } | null;
        const id = typeof raw === 'object' && raw !== null && Identifier.safeParse(raw.id).success ? (raw.id as string) : null;
        return { id, outcome: 'rejected' as const, problem: item.problem };
      }
      const submission = submissions[next++];
      if (!submission) throw new Error('batch submission lost an item');
      if (submission.outcome === 'reused') {
        const reused = problem('idempotency_key_reused', `command ${item.command.id} was already submitted with a different request`);
        return { id: item.command.id, outcome: 'rejected' as const, problem: reused };
      }
      return { id: item.command.id, outcome: submission.outcome, status: submission.status };
    });
    return c.json({ results }, 200);
  });

  serve(routes.getCommand, needs('read'), async (c) => {
    const id = idOf(c);
    const status = id === undefined ? null : await deps.commands.get(c.get('clientId'), id);
    if (!id || !status) return sendProblem(c, problem('not_found', 'no command with this id'));
    const waited = await withWait(c, id, status);
    const headers: Record<string, string> = {};
    if (waited.waited !== undefined) headers['preference-applied'] = `wait=${waited.waited}`;
    return c.json(waited.status, 200, headers);
  });

  serve(routes.replayCommand, needs('operate'), async (c) => {
    const id = idOf(c);
    const replay = id === undefined ? ({ outcome: 'not_found' } as const) : await deps.commands.replay(c.get('clientId'), id);
    if (replay.outcome === 'not_found') return sendProblem(c, problem('not_found', 'no command with this id'));
    if (replay.outcome === 'not_dead') {
      return sendProblem(c, problem('not_dead', `the command is ${replay.status.status}; only a dead command can be replayed`, { commandStatus: replay.status.status }));
    }
    return c.json(replay.status, 202, { location: location(replay.status.id) });
  });

  const deadLetterQuery = routes.listDeadLetters.request.query;
  serve(routes.listDeadLetters, needs('operate'), async (c) => {
    const query = parseQuery(c, deadLetterQuery);
    if (!query.ok) return sendProblem(c, query.problem);
    const page = await deps.commands.deadLetters(c.get('clientId'), { limit: Number(query.value.limit ?? 50), cursor: query.value.cursor });
    if (!page)
      return sendProblem(c, problem('invalid_request', 'the cursor is not one this API handed out', { errors: [{ path: 'cursor', message: 'unknown cursor' }] }));
    return c.json(page);
  });

  /** An entity read with its version as the ETag, and 304 for a matching If-None-Match. */
  function entity(read: EntityRead) {
    return async (c: Context<AppEnv>) => {
      const id = idOf(c);
      const row = id === undefined ? null : await read.read(deps.readContext, id);
      if (!row) return sendProblem(c, problem('not_found', `no ${read.name} with this id`));
      const value = read.schema.parse(row);
      const etag = entityTagOf(value.version);
      if (noneMatch(c.req.header('if-none-match'), value.version)) return c.body(null, 304, { etag });
      return c.json(value, 200, { etag });
    };
  }

  /** A page of an entity's sub-resource; an unknown parent is 404. */
  function page(read: PageRead) {
    const query = PageQuery(read.limit.max, read.limit.fallback);
    return async (c: Context<AppEnv>) => {
      const id = idOf(c);
      const parsed = parseQuery(c, query);
      if (!parsed.ok) return sendProblem(c, parsed.problem);
      const limit = parsed.value.limit === undefined ? read.limit.fallback : Number(parsed.value.limit);
      const body = id === undefined ? null : await read.read(deps.readContext, id, { limit, cursor: parsed.value.cursor });
      return body ? c.json(read.schema.parse(body) as object) : sendProblem(c, problem('not_found', `no ${read.name} with this id`));
    };
  }

  const reads: AnyRead[] = deps.domains.flatMap((domain) => [...domain.reads]);
  for (const served of createReadRoutes(reads)) {
    if (served.kind === 'entity') serve(served.route, needs('read'), entity(served.read));
    else serve(served.route, needs('read'), page(served.read));
  }

  serve(routes.live, (c) => c.json({ status: 'ok' as const }));
  serve(routes.ready, async (c) => {
    const ok = await deps.ready().catch(() => false);
    return ok
      ? c.json({ status: 'ok' as const })
      : sendProblem(c, problem('service_unavailable', 'the database is not reachable or its schema is not current'), { 'retry-after': '5' });
  });
  serve(routes.metrics, () => metricsResponse(metrics));

  let document: Record<string, unknown> | undefined;
  const openapi = () => (document ??= openApiDocument(app));
  serve(routes.openapi, (c) => c.json(openapi()));
  serve(routes.docs, (c) => c.html(DOCS_PAGE, 200, { 'content-security-policy': DOCS_CSP, 'cache-control': 'no-cache' }));
  const assets = createDocsAssets();
  serve(routes.docsAsset, (c) => {
    const asset = assets.get(c.req.param('file') ?? '', { version: c.req.query('v'), acceptEncoding: c.req.header('accept-encoding') });
    return asset ? c.body(asset.body, 200, asset.headers) : sendProblem(c, problem('not_found', 'no such file'));
  });

  serve(routes.stats, needs('operate'), async (c) => {
    if (!deps.stats) return sendProblem(c, problem('service_unavailable', 'this process does not serve stats'));
    return c.json(StatsSchema.parse(await deps.stats(c.get('clientId'))), 200, { 'cache-control': 'no-store' });
  });
  serve(routes.dashboard, (c) => c.html(DASHBOARD_PAGE, 200, { 'content-security-policy': DASHBOARD_CSP, 'cache-control': 'no-cache' }));

  return app;
}
