// Every route of the API, declared once: the app serves these and the OpenAPI document is generated from them.
import { createRoute, type RouteConfig } from '@hono/zod-openapi';
import { z } from 'zod';
import { routeOf, type AnyRead, type EntityRead, type PageRead } from '../core/domain.ts';
import type { Registry } from '../core/registry.ts';
import { PROBLEMS, ProblemSchema, PROBLEM_CONTENT_TYPE, type ProblemCode } from './problem.ts';
import {
  BatchResponseSchema,
  batchRequestSchema,
  CommandStatusSchema,
  DeadLetterPageSchema,
  IdParam,
  MAX_BATCH,
  PageQuery,
  submitBodySchema,
  StatsSchema,
  SubmitHeaders,
  WaitHeaders,
} from './schemas.ts';
import { DOCS_ASSET_NAMES } from './docs-page.ts';

type Responses = RouteConfig['responses'];
type Headers = Record<string, { description: string; schema: { type: 'string' } }>;

const header = (description: string) => ({ description, schema: { type: 'string' as const } });

const HEADERS = {
  location: { Location: header('`/v1/commands/{id}`: where to read the command.') },
  replayed: { 'Idempotent-Replayed': header('`true` when this id was already stored with the same request: the body is the stored command.') },
  preference: { 'Preference-Applied': header('`wait=N` when the response was held for `Prefer: wait=N`.') },
  etag: { ETag: header('The entity version as a strong entity tag, `"N"`; send it back as `If-Match` to make a command conditional.') },
} satisfies Record<string, Headers>;

const json = (schema: z.ZodType) => ({ 'application/json': { schema } });

/** Problem responses for the given codes, grouped by status, each code explained. */
function problems(...codes: ProblemCode[]): Responses {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of codes) byStatus.set(PROBLEMS[code].status, [...(byStatus.get(PROBLEMS[code].status) ?? []), code]);
  const responses: Responses = {};
  for (const [status, list] of byStatus) {
    const headers: Headers = {};
    if (list.includes('unauthorized')) headers['WWW-Authenticate'] = header('`Bearer`');
    if (list.includes('service_unavailable')) headers['Retry-After'] = header('Seconds to wait before retrying.');
    responses[String(status)] = {
      description: list.map((code) => `\`${code}\`: ${PROBLEMS[code].meaning}`).join('\n\n'),
      headers,
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
    };
  }
  return responses;
}

/** What every authenticated route may answer besides its own cases. */
const COMMON: ProblemCode[] = ['unauthorized', 'internal_error', 'service_unavailable'];
const BODY: ProblemCode[] = ['invalid_request', 'payload_too_large', 'unsupported_media_type'];

const commandStatus = (description: string, headers: Headers = {}) => ({ description, headers, content: json(CommandStatusSchema) });

/**
 * The route table of oncely's own routes. Only the submission body depends on the registry (one envelope
 * variant per command type); the domains' entity routes come from `createReadRoutes`.
 *
 * @example
 * const routes = createRoutes(registry);
 * routes.submitCommand.path; // '/v1/commands'
 */
export function createRoutes(registry: Registry) {
  const envelope = submitBodySchema(registry);
  return {
    submitCommand: createRoute({
      method: 'post',
      path: '/v1/commands',
      operationId: 'submitCommand',
      tags: ['Commands'],
      summary: 'Submit a command',
      description:
        'Stores the command and queues it in one transaction. Re-submitting the same id with the same request returns the stored command and never creates a second one or a second effect.',
      request: { headers: SubmitHeaders, body: { required: true, content: json(envelope) } },
      responses: {
        200: commandStatus('Terminal: within `Prefer: wait`, or a replay of a terminal command (`Idempotent-Replayed: true`).', {
          ...HEADERS.location,
          ...HEADERS.replayed,
          ...HEADERS.preference,
        }),
        202: commandStatus('Stored and queued, or a replay of a command still in flight (`Idempotent-Replayed: true`).', {
          ...HEADERS.location,
          ...HEADERS.replayed,
          ...HEADERS.preference,
        }),
        ...problems(
          'forbidden',
          ...BODY,
          'idempotency_key_missing',
          'idempotency_key_mismatch',
          'unknown_command_type',
          'invalid_payload',
          'version_mismatch',
          'idempotency_key_reused',
          ...COMMON,
        ),
      },
    }),
    submitBatch: createRoute({
      method: 'post',
      path: '/v1/commands/batch',
      operationId: 'submitBatch',
      tags: ['Commands'],
      summary: `Submit 1 to ${MAX_BATCH} commands at once`,
      description:
        'Every valid envelope is stored and queued in one transaction; each gets its own result, in request order. A bad envelope is rejected on its own and does not stop the others. Each envelope must carry its own `id`; `Idempotency-Key`, `If-Match` and `Prefer` do not apply here.',
      request: { body: { required: true, content: json(batchRequestSchema(envelope)) } },
      responses: {
        200: { description: 'One result per envelope, in request order.', content: json(BatchResponseSchema) },
        ...problems(...BODY, 'forbidden', ...COMMON),
      },
    }),
    getCommand: createRoute({
      method: 'get',
      path: '/v1/commands/{id}',
      operationId: 'getCommand',
      tags: ['Commands'],
      summary: 'Read a command and its outcome',
      description: '`Prefer: wait=N` holds the response until the command is terminal or N seconds pass (woken by a database notification, not a polling loop).',
      request: { params: IdParam, headers: WaitHeaders },
      responses: {
        200: commandStatus('The command.', HEADERS.preference),
        ...problems('not_found', 'forbidden', ...COMMON),
      },
    }),
    replayCommand: createRoute({
      method: 'post',
      path: '/v1/commands/{id}/replay',
      operationId: 'replayCommand',
      tags: ['Dead letters'],
      summary: 'Replay a dead command',
      description: 'Puts a `dead` command back in the queue under the same id, in one transaction with its new job. It is applied at most once.',
      request: { params: IdParam },
      responses: {
        202: commandStatus('Queued again.', HEADERS.location),
        ...problems('not_found', 'not_dead', 'forbidden', ...COMMON),
      },
    }),
    listDeadLetters: createRoute({
      method: 'get',
      path: '/v1/dead-letters',
      operationId: 'listDeadLetters',
      tags: ['Dead letters'],
      summary: 'List dead commands',
      request: { query: PageQuery(1000, 50) },
      responses: {
        200: { description: 'A page of dead commands.', content: json(DeadLetterPageSchema) },
        ...problems('invalid_request', 'forbidden', ...COMMON),
      },
    }),
    live: createRoute({
      method: 'get',
      path: '/health/live',
      operationId: 'live',
      tags: ['Operations'],
      summary: 'Liveness: 200 while the process runs',
      security: [],
      responses: { 200: { description: 'Alive.', content: json(z.object({ status: z.literal('ok') })) } },
    }),
    ready: createRoute({
      method: 'get',
      path: '/health/ready',
      operationId: 'ready',
      tags: ['Operations'],
      summary: 'Readiness: the database answers and its schema is current',
      security: [],
      responses: {
        200: { description: 'Ready.', content: json(z.object({ status: z.literal('ok') })) },
        ...problems('service_unavailable'),
      },
    }),
    metrics: createRoute({
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      tags: ['Operations'],
      summary: 'Prometheus metrics (text format)',
      responses: {
        200: { description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: z.string() } } },
        ...problems(...COMMON),
      },
    }),
    openapi: createRoute({
      method: 'get',
      path: '/openapi.json',
      operationId: 'openapi',
      tags: ['Operations'],
      summary: 'This OpenAPI 3.1 document',
      responses: {
        200: { description: 'The document.', content: { 'application/json': { schema: z.object({ openapi: z.string() }).loose() } } },
        ...problems(...COMMON),
      },
    }),
    docs: createRoute({
      method: 'get',
      path: '/docs',
      operationId: 'docs',
      tags: ['Operations'],
      summary: 'This document as a readable page',
      responses: {
        200: {
          description: 'swagger-ui (served from this server, nothing fetched from elsewhere) reading `/openapi.json`.',
          content: { 'text/html': { schema: z.string() } },
        },
        ...problems(...COMMON),
      },
    }),
    docsAsset: createRoute({
      method: 'get',
      path: '/docs/assets/{file}',
      operationId: 'docsAsset',
      tags: ['Operations'],
      summary: "The page's scripts, styles and icons (swagger-ui-dist)",
      description:
        'Cached for a year: the page names each file with the swagger-ui version, so an upgrade changes the URL. Sent gzip-compressed when the client accepts it.',
      request: { params: z.object({ file: z.enum(DOCS_ASSET_NAMES) }) },
      responses: {
        200: {
          description: 'The file, with its content type and `Cache-Control`.',
          content: { 'text/css': { schema: z.string() }, 'text/javascript': { schema: z.string() }, 'image/png': { schema: z.string() } },
        },
        ...problems('not_found', ...COMMON),
      },
    }),
    stats: createRoute({
      method: 'get',
      path: '/v1/stats',
      operationId: 'getStats',
      tags: ['Operations'],
      summary: 'Live figures: throughput, outcomes, latency, queue, dead letters, duplicates',
      description:
        'What `/dashboard` shows. Every figure is bounded to a recent window; the database part is read at most once a second, whatever the number of callers.',
      responses: {
        200: { description: 'The figures.', content: json(StatsSchema) },
        ...problems('forbidden', ...COMMON),
      },
    }),
    dashboard: createRoute({
      method: 'get',
      path: '/dashboard',
      operationId: 'dashboard',
      tags: ['Operations'],
      summary: 'A live page of /v1/stats, with dead-letter replay',
      description:
        'A self-contained HTML page. It holds no data, so it is served without a key; every figure it shows comes from `/v1/stats` and every replay from `POST /v1/commands/{id}/replay`, both with `Authorization: Bearer <key>` when API keys are configured (the page asks for the key once and keeps it in `sessionStorage`).',
      security: [],
      responses: {
        200: { description: 'The page.', content: { 'text/html': { schema: z.string() } } },
      },
    }),
  } satisfies Record<string, RouteConfig>;
}

export type Routes = ReturnType<typeof createRoutes>;

/** A domain's read and the route that serves it. */
export type ReadRoute = { kind: 'entity'; read: EntityRead; route: RouteConfig } | { kind: 'page'; read: PageRead; route: RouteConfig };

/** The route of one read: an entity by id (with its ETag and 304), or a page of its sub-resource. */
function readRoute(read: AnyRead): RouteConfig {
  const responses =
    read.kind === 'entity'
      ? {
          200: { description: read.description, headers: HEADERS.etag, content: json(read.schema as z.ZodType) },
          304: { description: '`If-None-Match` names the current version.', headers: HEADERS.etag },
          ...problems('not_found', 'forbidden', ...COMMON),
        }
      : { 200: { description: read.description, content: json(read.schema as z.ZodType) }, ...problems('invalid_request', 'not_found', 'forbidden', ...COMMON) };
  return createRoute({
    method: 'get',
    path: routeOf(read),
    operationId: read.operationId,
    tags: ['Entities'],
    summary: read.summary,
    request: read.kind === 'entity' ? { params: IdParam } : { params: IdParam, query: PageQuery(read.limit.max, read.limit.fallback) },
    responses,
  });
}

/**
 * The routes of the domains' reads: every entity read first, then every paged read, each in the domains'
 * order (the order the OpenAPI document lists them in).
 *
 * @example
 * const routes = createReadRoutes(referenceDomains.flatMap((domain) => domain.reads));
 * routes[0]?.route.path; // '/v1/accounts/{id}'
 */
export function createReadRoutes(reads: readonly AnyRead[]): ReadRoute[] {
  // The type guards leave AnyRead's erased schema type behind: a route only hands what a read returns to its `schema`.
  const entities = reads.filter((read): read is EntityRead => read.kind === 'entity');
  const pages = reads.filter((read): read is PageRead => read.kind === 'page');
  return [
    ...entities.map((read): ReadRoute => ({ kind: 'entity', read, route: readRoute(read) })),
    ...pages.map((read): ReadRoute => ({ kind: 'page', read, route: readRoute(read) })),
  ];
}
