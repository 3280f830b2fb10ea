import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';

import type { FieldError } from '../core/field-errors.ts';

export { fieldErrors, type FieldError } from '../core/field-errors.ts';

/** Every problem code the API can answer with: its HTTP status, title and meaning. The one table. */
export const PROBLEMS = {
  invalid_request: { status: 400, title: 'Invalid request', meaning: 'Malformed JSON, a bad envelope, header, query parameter or cursor; `errors` lists each field.' },
  idempotency_key_missing: { status: 400, title: 'Idempotency key missing', meaning: 'Neither the body `id` nor the `Idempotency-Key` header carries the command id.' },
  idempotency_key_mismatch: { status: 400, title: 'Idempotency key mismatch', meaning: 'The `Idempotency-Key` header and the body `id` differ.' },
  unknown_command_type: { status: 400, title: 'Unknown command type', meaning: 'The `type` is not registered; `knownTypes` lists those that are.' },
  invalid_payload: { status: 400, title: 'Invalid payload', meaning: "The payload fails the command type's schema; `errors` lists each field." },
  version_mismatch: {
    status: 400,
    title: 'If-Match and expectedVersion disagree',
    meaning: 'Both `If-Match` and the body `expectedVersion` are given and name different versions.',
  },
  unauthorized: { status: 401, title: 'Unauthorized', meaning: 'API keys are configured and the request carries none or an unknown one.' },
  forbidden: { status: 403, title: 'Forbidden', meaning: 'The API key is valid but lacks the scope this route needs (submit, read or operate).' },
  not_found: { status: 404, title: 'Not found', meaning: 'No such route, or no command or entity with this id (for this client).' },
  method_not_allowed: { status: 405, title: 'Method not allowed', meaning: 'The path exists but not for this method; `Allow` lists the methods it takes.' },
  not_dead: { status: 409, title: 'Command is not dead', meaning: 'Only a `dead` command can be replayed; `commandStatus` is its current status.' },
  payload_too_large: { status: 413, title: 'Payload too large', meaning: 'The body is over 256 KiB (counted while reading, chunked bodies too).' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', meaning: 'The body is not sent as `application/json`.' },
  idempotency_key_reused: {
    status: 422,
    title: 'Idempotency key reused',
    meaning: 'This id was already used by this client for a different request (a different fingerprint).',
  },
  internal_error: { status: 500, title: 'Internal error', meaning: 'A bug; the details are logged, never sent.' },
  service_unavailable: {
    status: 503,
    title: 'Service unavailable',
    meaning: 'The database cannot be reached or refused for a transient reason; retry after `Retry-After` seconds. Safe to retry: submissions are idempotent.',
  },
} as const satisfies Record<string, { status: number; title: string; meaning: string }>;

export type ProblemCode = keyof typeof PROBLEMS;
export const PROBLEM_CODES = Object.keys(PROBLEMS) as [ProblemCode, ...ProblemCode[]];

export const FieldErrorSchema = z.object({ path: z.string(), message: z.string() }).meta({ id: 'FieldError' });

/** RFC 9457 problem details, with oncely's stable `code`. Extension members may follow. */
export const ProblemSchema = z
  .looseObject({
    type: z.string().describe('A URI naming the problem type.'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().describe('What went wrong with this request, for a human.'),
    code: z.enum(PROBLEM_CODES).describe('Stable machine-readable code; see the problem code table.'),
    errors: z.array(FieldErrorSchema).optional().describe('One entry per offending field (invalid_request, invalid_payload).'),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details (`application/problem+json`).' });

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problem(code: ProblemCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  const { status, title } = PROBLEMS[code];
  return { type: `https://oncely.dev/problems/${code.replaceAll('_', '-')}`, title, status, detail, code, ...extra };
}

export function sendProblem(c: Context, value: Problem, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(value), value.status as ContentfulStatusCode, {
    'content-type': PROBLEM_CONTENT_TYPE,
    ...headers,
  });
}
