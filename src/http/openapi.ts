import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { PROBLEMS } from './problem.ts';
import { MAX_BATCH, MAX_BODY_BYTES, MAX_WAIT_SECONDS } from './schemas.ts';

const problemTable = [
  '| code | status | meaning |',
  '| --- | --- | --- |',
  ...Object.entries(PROBLEMS).map(([code, { status, meaning }]) => `| \`${code}\` | ${status} | ${meaning.replaceAll('|', '\\|')} |`),
].join('\n');

const DESCRIPTION = `oncely turns at-least-once delivery into exactly-once effects on PostgreSQL. Submit a command with your own
unique \`id\`; it is stored and queued in one transaction; a worker applies it exactly once; read its outcome.

**Idempotency.** The command \`id\` (or the \`Idempotency-Key\` header) is the idempotency key. Re-submitting the same id with the
same request (same SHA-256 fingerprint of \`{type, entityId, expectedVersion, payload}\`) returns the stored command with
\`Idempotent-Replayed: true\`; the same id with a different request is refused with \`idempotency_key_reused\`. Retrying any
submission is always safe.

**Waiting.** \`Prefer: wait=N\` (0 < N <= ${MAX_WAIT_SECONDS}) on submission and on \`GET /v1/commands/{id}\` holds the response until the
command is terminal or N seconds pass, answering the moment the outcome is committed (a database notification, not polling).
An unusable value is ignored. Each process holds a bounded number of waiting requests; beyond it the preference is ignored
and the response comes at once without \`Preference-Applied\` (the command is stored either way; read it later).

**Optimistic concurrency.** Entity reads carry \`ETag: "N"\` (the version). Send it as \`If-Match\` on submission to make the
command apply only at that version; it becomes the command's \`expectedVersion\` (if both are given they must agree, else
\`version_mismatch\`). A stale version ends the command \`conflict\`.

**Authentication.** When the server is started with \`API_KEYS\`, every route except \`/health/*\` needs
\`Authorization: Bearer <key>\`. Each key belongs to a client (\`client:key\` in API_KEYS; a bare key is a client of its own):
keys of one client share its command ids, so a key can be rotated; another client's commands answer 404. A key may be
limited to scopes (\`submit\`, \`read\`, \`operate\` = dead letters, replay, stats); a route outside them answers 403
\`forbidden\`. Clients are not tenants: any key that may read can read any entity.

**Limits.** Bodies up to ${MAX_BODY_BYTES / 1024} KiB (counted while reading, chunked bodies too), JSON only; batches of 1 to ${MAX_BATCH}.

**Errors.** Every error is \`application/problem+json\` (RFC 9457) with \`type\`, \`title\`, \`status\`, \`detail\` and a stable
\`code\`. An unknown path answers 404 \`not_found\`; a known path with the wrong method answers 405 \`method_not_allowed\` with
\`Allow\`. Responses never carry stack traces, SQL or server paths.

${problemTable}`;

/**
 * The OpenAPI 3.1 document of an app whose routes were registered from `createRoutes`.
 *
 * @example
 * const document = openApiDocument(app);
 */
export function openApiDocument<E extends Env>(app: OpenAPIHono<E>): Record<string, unknown> {
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'One of the keys in API_KEYS. Only required when the server has API keys configured.',
  });
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'oncely', version: '1', description: DESCRIPTION },
    // Anonymous access is allowed when no API keys are configured, hence the empty alternative.
    security: [{ apiKey: [] }, {}],
    tags: [
      { name: 'Commands', description: 'Submit commands and read their outcomes.' },
      { name: 'Dead letters', description: 'Commands that failed on every attempt, and their replay.' },
      { name: 'Entities', description: 'The reference domains: accounts, orders, red packets.' },
      { name: 'Operations', description: 'Health, metrics and this document.' },
    ],
  });
  return document as unknown as Record<string, unknown>;
}
