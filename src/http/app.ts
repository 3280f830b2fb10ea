import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createHash, timingSafeEqual } from 'node:crypto';
import { isTerminal, type CommandStatus } from '../core/envelope.ts';
import type { Registry } from '../core/registry.ts';
import type { CommandService } from '../processor/commands.ts';
import { problem, sendProblem, type Problem } from './problem.ts';
import { checkEnvelope } from './validate.ts';

export const MAX_BODY_BYTES = 256 * 1024;
export const MAX_BATCH = 1000;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Entity reads; each returns null for an unknown id. */
export interface Reads {
  account(id: string): Promise<unknown>;
  ledger(id: string, page: { limit: number; cursor: string | undefined }): Promise<Page<unknown> | null>;
  order(id: string): Promise<unknown>;
  redPacket(id: string): Promise<unknown>;
}

export interface AppDeps {
  registry: Registry;
  commands: CommandService;
  reads: Reads;
  /** Whether the database answers and the schema is current. */
  ready: () => Promise<boolean>;
  apiKeys: readonly string[];
  /** The most requests that may hold a `Prefer: wait` at once in this process. */
  maxWaiters?: number;
  onError?: (err: unknown) => void;
}

type Env = { Variables: { clientId: string } };

/** A client's identity: a digest of its key, so the key itself is never stored. */
export function clientIdOf(apiKey: string): string {
  return `key-${createHash('sha256').update(apiKey).digest('hex').slice(0, 16)}`;
}

export const ANONYMOUS = 'anonymous';

/** `Prefer: wait=N` with 0 < N <= 30, else undefined (an unusable preference is ignored, RFC 7240). */
export function preferredWait(header: string | undefined): number | undefined {
  const match = header && /(?:^|[,;\s])wait\s*=\s*"?(\d+(?:\.\d+)?)"?/i.exec(header);
  if (!match?.[1]) return undefined;
  const seconds = Number(match[1]);
  return seconds > 0 && seconds <= 30 ? seconds : undefined;
}

/**
 * The HTTP API as a Hono app, with no server attached: `app.request()` in tests, `serve()` in main.
 *
 * @example
 * const app = createApp({ registry, commands, reads, ready, apiKeys: [] });
 * const res = await app.request('/health/live');
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const maxWaiters = deps.maxWaiters ?? 1000;
  let waiting = 0;
  const keys = deps.apiKeys.map((key) => ({ digest: createHash('sha256').update(key).digest(), clientId: clientIdOf(key) }));

  app.onError((err, c) => {
    deps.onError?.(err);
    return sendProblem(c, problem('internal_error', 'the server could not complete the request'));
  });
  app.notFound((c) => sendProblem(c, problem('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`)));

  app.get('/health/live', (c) => c.json({ status: 'ok' }));
  app.get('/health/ready', async (c) => {
    const ok = await deps.ready().catch(() => false);
    return ok ? c.json({ status: 'ok' }) : sendProblem(c, problem('service_unavailable', 'the database is not reachable or its schema is not current'));
  });

  app.use('*', async (c, next) => {
    if (keys.length === 0) {
      c.set('clientId', ANONYMOUS);
      return next();
    }
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    // Compare digests in constant time against every key, so timing tells nothing about which key is close.
    let clientId: string | undefined;
    for (const key of keys) if (timingSafeEqual(given, key.digest) && match) clientId = key.clientId;
    if (!clientId) {
      return sendProblem(c, problem('unauthorized', 'a valid API key is required: Authorization: Bearer <key>'), { 'www-authenticate': 'Bearer' });
    }
    c.set('clientId', clientId);
    return next();
  });

  const jsonBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => sendProblem(c, problem('payload_too_large', `the body is over ${MAX_BODY_BYTES} bytes`)),
  });

  async function readJson(c: Context<Env>): Promise<{ ok: true; value: unknown } | { ok: false; problem: Problem }> {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(type)) {
      return { ok: false, problem: problem('unsupported_media_type', 'send the body as application/json') };
    }
    const text = await c.req.text();
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch {
      return { ok: false, problem: problem('invalid_request', 'the body is not valid JSON', { errors: [{ path: '(root)', message: 'malformed JSON' }] }) };
    }
  }

  async function withWait(c: Context<Env>, id: string, status: CommandStatus): Promise<{ status: CommandStatus; waited?: number }> {
    const seconds = preferredWait(c.req.header('prefer'));
    if (seconds === undefined || isTerminal(status.status)) return { status };
    if (waiting >= maxWaiters) return { status };
    waiting++;
    try {
      const latest = await deps.commands.waitFor(c.get('clientId'), id, seconds);
      return { status: latest ?? status, waited: seconds };
    } finally {
      waiting--;
    }
  }

  app.post('/v1/commands', jsonBody, async (c) => {
    const body = await readJson(c);
    if (!body.ok) return sendProblem(c, body.problem);
    const checked = checkEnvelope(body.value, deps.registry, c.req.header('idempotency-key'));
    if (!checked.ok) return sendProblem(c, checked.problem);
    const [submission] = await deps.commands.submit(c.get('clientId'), [checked.command]);
    if (!submission) throw new Error('submission returned nothing');
    if (submission.outcome === 'reused') {
      return sendProblem(c, problem('idempotency_key_reused', `command ${checked.command.id} was already submitted with a different request`));
    }
    const { status, waited } = await withWait(c, checked.command.id, submission.status);
    const headers: Record<string, string> = { location: `/v1/commands/${encodeURIComponent(status.id)}` };
    if (waited !== undefined) headers['preference-applied'] = `wait=${waited}`;
    if (submission.outcome === 'duplicate') headers['idempotent-replayed'] = 'true';
    return c.json(status, isTerminal(status.status) && (waited !== undefined || submission.outcome === 'duplicate') ? 200 : 202, headers);
  });

  app.post('/v1/commands/batch', jsonBody, async (c) => {
    const body = await readJson(c);
    if (!body.ok) return sendProblem(c, body.problem);
    const raw = body.value as { commands?: unknown } | null;
    const list = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw.commands : undefined;
    if (!Array.isArray(list) || list.length < 1 || list.length > MAX_BATCH || Object.keys(raw ?? {}).some((k) => k !== 'commands')) {
      return sendProblem(
        c,
        problem('invalid_request', `the body must be { "commands": [...] } with 1 to ${MAX_BATCH} envelopes`, {
          errors: [{ path: 'commands', message: `must be an array of 1 to ${MAX_BATCH} envelopes` }],
        }),
      );
    }
    const checked = list.map((item) => checkEnvelope(item, deps.registry));
    const valid = checked.flatMap((item) => (item.ok ? [item.command] : []));
    const submissions = valid.length > 0 ? await deps.commands.submit(c.get('clientId'), valid) : [];
    let next = 0;
    const results = checked.map((item, i) => {
      if (!item.ok) {
        const raw = list[i] as { id?: unknown } | null;
        return { id: typeof raw?.id === 'string' ? raw.id : null, outcome: 'rejected' as const, problem: item.problem };
      }
      const submission = submissions[next++];
      if (!submission) throw new Error('batch submission lost an item');
      if (submission.outcome === 'reused') {
        return {
          id: item.command.id,
          outcome: 'rejected' as const,
          problem: problem('idempotency_key_reused', `command ${item.command.id} was already submitted with a different request`),
        };
      }
      return { id: item.command.id, outcome: submission.outcome, status: submission.status };
    });
    return c.json({ results }, 200);
  });

  app.get('/v1/commands/:id', async (c) => {
    const id = c.req.param('id');
    const status = await deps.commands.get(c.get('clientId'), id);
    if (!status) return sendProblem(c, problem('not_found', `no command ${id}`));
    const waited = await withWait(c, id, status);
    const headers: Record<string, string> = {};
    if (waited.waited !== undefined) headers['preference-applied'] = `wait=${waited.waited}`;
    return c.json(waited.status, 200, headers);
  });

  app.get('/v1/accounts/:id', async (c) => {
    const account = await deps.reads.account(c.req.param('id'));
    return account ? c.json(account) : sendProblem(c, problem('not_found', `no account ${c.req.param('id')}`));
  });

  app.get('/v1/accounts/:id/ledger', async (c) => {
    const limit = Number(c.req.query('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      return sendProblem(c, problem('invalid_request', 'limit must be an integer from 1 to 1000', { errors: [{ path: 'limit', message: 'must be 1 to 1000' }] }));
    }
    const page = await deps.reads.ledger(c.req.param('id'), { limit, cursor: c.req.query('cursor') });
    return page ? c.json(page) : sendProblem(c, problem('not_found', `no account ${c.req.param('id')}`));
  });

  app.get('/v1/orders/:id', async (c) => {
    const order = await deps.reads.order(c.req.param('id'));
    return order ? c.json(order) : sendProblem(c, problem('not_found', `no order ${c.req.param('id')}`));
  });

  app.get('/v1/red-packets/:id', async (c) => {
    const redPacket = await deps.reads.redPacket(c.req.param('id'));
    return redPacket ? c.json(redPacket) : sendProblem(c, problem('not_found', `no red packet ${c.req.param('id')}`));
  });

  return app;
}
