// A typed client for oncely's HTTP API, for a service that submits commands and waits for their outcomes.
// Responses are parsed with the same zod schemas the server documents them with (src/http/schemas.ts and
// the entity schemas of the domains it is given). It knows no domain of its own: the reference domains'
// client is `createReferenceClient` of `oncely/reference` (src/client/reference.ts).
import type { z } from 'zod';
import type { Domain, EntityMapOf } from '../core/domain.ts';
import type { ProblemCode } from '../http/problem.ts';
import {
  BatchResponseSchema,
  CommandStatusSchema,
  DeadLetterPageSchema,
  MAX_WAIT_SECONDS,
  type BatchResult,
  type CommandStatus,
  type DeadLetterPage,
} from '../http/schemas.ts';

export type { BatchResult, CommandStatus, DeadLetterPage, EntityMapOf, ProblemCode };
export type { CommandMapOfDomains } from '../core/domain.ts';

/**
 * Collection -> entity read by `client.read(collection, id)`. The default accepts any collection.
 *
 * @example
 * const oncely = createClient<CommandMap, { tickets: Ticket }>({ baseUrl, domains: [ticketsDomain] });
 */
export type EntityMap = Record<string, { version: number }>;

/** Command type -> payload. The default accepts any type with an object payload. */
export type CommandMap = Record<string, object>;

/**
 * The command map of a list of definitions, when their `type` is a literal:
 * `createClient<CommandMapOf<typeof myCommands>>(...)`.
 */
export type CommandMapOf<D extends readonly { type: string; payload: z.ZodType }[]> = {
  [K in D[number] as K['type']]: z.input<K['payload']>;
};

export type EnvelopeOf<M extends CommandMap, T extends keyof M & string = keyof M & string> = {
  [K in T]: { id: string; type: K; entityId: string; expectedVersion?: number; payload: M[K] };
}[T];

export interface ClientOptions {
  /** Where oncely listens, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** One of the server's API_KEYS, if it has any. */
  apiKey?: string;
  /** A fetch of your own (tests pass `app.request`); the global fetch by default. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * Domains whose entity schemas `read` parses responses with. A collection with no schema here is checked
   * only for a numeric `version`.
   */
  domains?: readonly Pick<Domain, 'reads'>[];
}

export interface SubmitOptions {
  /** Hold the response up to this many seconds (0 < N <= 30) for the command to end. */
  wait?: number;
  /** An entity version (or its ETag) the command must find: sent as If-Match. */
  ifMatch?: number | string;
}

export interface Submitted {
  status: CommandStatus;
  /** True when this id was already stored with the same request (nothing new was created). */
  replayed: boolean;
}

/** An RFC 9457 problem answered by the server: `code` is stable, `detail` is for humans. */
export class ProblemError extends Error {
  override name = 'ProblemError';
  readonly status: number;
  readonly code: ProblemCode;
  readonly problem: Record<string, unknown>;
  constructor(problem: { status: number; code: ProblemCode; detail?: string; [key: string]: unknown }) {
    super(`${problem.code}: ${problem.detail ?? ''}`);
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
  }
}

/** The server answered something this client does not understand (a proxy's error page, a version skew). */
export class UnexpectedResponseError extends Error {
  override name = 'UnexpectedResponseError';
}

export interface Client<M extends CommandMap, E extends EntityMap = EntityMap> {
  /** Submits one command; safe to retry with the same id. A problem (4xx/5xx) throws `ProblemError`. */
  submit<T extends keyof M & string>(command: EnvelopeOf<M, T>, options?: SubmitOptions): Promise<Submitted>;
  /** Submits 1 to 1000 commands in one transaction; one result per command, in order. */
  batch(commands: readonly EnvelopeOf<M>[]): Promise<BatchResult[]>;
  /** Reads a command, or null if this client has none with this id. */
  get(id: string, options?: { wait?: number }): Promise<CommandStatus | null>;
  /** Waits until the command is terminal (or throws after `timeoutMs`, default 60 s). */
  waitFor(id: string, options?: { timeoutMs?: number }): Promise<CommandStatus>;
  deadLetters(page?: { limit?: number; cursor?: string }): Promise<DeadLetterPage>;
  /** Puts a dead command back on the queue under the same id; `not_dead` throws. */
  replay(id: string): Promise<CommandStatus>;
  /** Reads any domain's entity, `GET /v1/{collection}/{id}`, or null for an unknown id. */
  read<K extends keyof E & string>(collection: K, id: string): Promise<E[K] | null>;
  /**
   * Reads a page of an entity's sub-resource, `GET /v1/{collection}/{id}/{path}?limit&cursor`, parsed with
   * `schema`, or null for an unknown entity.
   */
  page<T>(collection: string, id: string, path: string, schema: Parser<T>, page?: { limit?: number; cursor?: string }): Promise<T | null>;
}

const segment = (id: string) => encodeURIComponent(id);

/** What parses a response body: any zod schema fits. */
export type Parser<T> = { safeParse(value: unknown): { success: true; data: T } | { success: false } };

/** Any entity whose `version` is a whole number: what `read` accepts for a collection it has no schema of. */
const anyEntity = {
  safeParse(value: unknown) {
    const version = typeof value === 'object' && value !== null ? (value as { version?: unknown }).version : undefined;
    return Number.isSafeInteger(version) ? { success: true as const, data: value as { version: number } } : { success: false as const };
  },
};

/**
 * Creates a client for one oncely server. `M` types submissions, `E` types `read(collection, id)`; both
 * can come from your domains (`CommandMapOfDomains`, `EntityMapOf`).
 *
 * @example
 * const oncely = createClient<{ 'account.credit': { amount: number } }>({ baseUrl: 'http://127.0.0.1:3000', apiKey });
 * const { status } = await oncely.submit({ id: 'pay-42', type: 'account.credit', entityId: 'acc-1', payload: { amount: 500 } }, { wait: 5 });
 * const done = status.status === 'queued' ? await oncely.waitFor('pay-42') : status;
 * const account = await oncely.read('accounts', 'acc-1'); // { id, currency, balance, version, ... } | null
 */
export function createClient<M extends CommandMap = CommandMap, E extends EntityMap = EntityMap>(options: ClientOptions): Client<M, E> {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((url, init) => fetch(url, init));

  async function request(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (options.apiKey) headers['authorization'] = `Bearer ${options.apiKey}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    return doFetch(`${base}${path}`, { method, headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
  }

  async function problemOf(response: Response): Promise<ProblemError | UnexpectedResponseError> {
    const text = await response.text();
    try {
      const body = JSON.parse(text) as { code?: unknown; status?: unknown };
      if (typeof body.code === 'string' && typeof body.status === 'number') return new ProblemError(body as never);
    } catch {
      // fall through: not a problem document
    }
    return new UnexpectedResponseError(`HTTP ${response.status}: ${text.slice(0, 200)}`);
  }

  const schemas = new Map<string, Parser<unknown>>();
  for (const domain of options.domains ?? []) {
    for (const read of domain.reads) if (read.kind === 'entity') schemas.set(read.collection, read.schema as z.ZodType);
  }

  async function parse<T>(response: Response, schema: Parser<T>): Promise<T> {
    const parsed = schema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new UnexpectedResponseError(`HTTP ${response.status}: the body does not match the API's schema`);
    return parsed.data;
  }

  /** 2xx parsed with `schema`, 404 as null, anything else thrown. */
  async function read<T>(path: string, schema: Parser<T>, headers: Record<string, string> = {}): Promise<T | null> {
    const response = await request('GET', path, { headers });
    if (response.status === 404) {
      const problem = await problemOf(response);
      if (problem instanceof ProblemError && problem.code === 'not_found') return null;
      throw problem;
    }
    if (!response.ok) throw await problemOf(response);
    return parse(response, schema);
  }

  const pageQuery = (page: { limit?: number; cursor?: string } = {}) => {
    const query = new URLSearchParams();
    if (page.limit !== undefined) query.set('limit', String(page.limit));
    if (page.cursor !== undefined) query.set('cursor', page.cursor);
    const text = query.toString();
    return text ? `?${text}` : '';
  };

  const client: Client<M, E> = {
    async submit(command, submitOptions = {}) {
      const headers: Record<string, string> = {};
      if (submitOptions.wait !== undefined) headers['prefer'] = `wait=${submitOptions.wait}`;
      if (submitOptions.ifMatch !== undefined) {
        headers['if-match'] = typeof submitOptions.ifMatch === 'number' ? `"${submitOptions.ifMatch}"` : submitOptions.ifMatch;
      }
      const response = await request('POST', '/v1/commands', { body: command, headers });
      if (response.status !== 200 && response.status !== 202) throw await problemOf(response);
      return { status: await parse(response, CommandStatusSchema), replayed: response.headers.get('idempotent-replayed') === 'true' };
    },
    async batch(commands) {
      const response = await request('POST', '/v1/commands/batch', { body: { commands } });
      if (response.status !== 200) throw await problemOf(response);
      return (await parse(response, BatchResponseSchema)).results;
    },
    get(id, getOptions = {}) {
      return read(`/v1/commands/${segment(id)}`, CommandStatusSchema, getOptions.wait === undefined ? {} : { prefer: `wait=${getOptions.wait}` });
    },
    async waitFor(id, waitOptions = {}) {
      const deadline = Date.now() + (waitOptions.timeoutMs ?? 60_000);
      for (;;) {
        const remaining = deadline - Date.now();
        const wait = Math.min(MAX_WAIT_SECONDS, Math.max(1, Math.ceil(remaining / 1000)));
        const response = await request('GET', `/v1/commands/${segment(id)}`, { headers: { prefer: `wait=${wait}` } });
        if (!response.ok) throw await problemOf(response);
        const status = await parse(response, CommandStatusSchema);
        if (status.status !== 'queued' && status.status !== 'retrying') return status;
        if (Date.now() >= deadline) throw new Error(`command ${id} is still ${status.status} after ${waitOptions.timeoutMs ?? 60_000} ms`);
        // A server at its bound of waiting requests answers at once; back off rather than spin.
        if (!response.headers.has('preference-applied')) await new Promise((resolve) => setTimeout(resolve, Math.min(500, Math.max(0, deadline - Date.now()))));
      }
    },
    async deadLetters(page) {
      const response = await request('GET', `/v1/dead-letters${pageQuery(page)}`);
      if (!response.ok) throw await problemOf(response);
      return parse(response, DeadLetterPageSchema);
    },
    async replay(id) {
      const response = await request('POST', `/v1/commands/${segment(id)}/replay`);
      if (response.status !== 202) throw await problemOf(response);
      return parse(response, CommandStatusSchema);
    },
    page: (collection, id, path, schema, page) => read(`/v1/${segment(collection)}/${segment(id)}/${segment(path)}${pageQuery(page)}`, schema),
    read: (collection, id) => read(`/v1/${segment(collection)}/${segment(id)}`, (schemas.get(collection) ?? anyEntity) as Parser<E[typeof collection]>),
  };
  return client;
}
