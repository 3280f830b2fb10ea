import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export interface FieldError {
  path: string;
  message: string;
}

/** Every problem code the API can answer with, its HTTP status and title: the one table. */
export const PROBLEMS = {
  invalid_request: { status: 400, title: 'Invalid request' },
  idempotency_key_missing: { status: 400, title: 'Idempotency key missing' },
  idempotency_key_mismatch: { status: 400, title: 'Idempotency key mismatch' },
  unknown_command_type: { status: 400, title: 'Unknown command type' },
  invalid_payload: { status: 400, title: 'Invalid payload' },
  version_mismatch: { status: 400, title: 'If-Match and expectedVersion disagree' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_dead: { status: 409, title: 'Command is not dead' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key reused' },
  too_many_waiters: { status: 503, title: 'Too many waiting requests' },
  internal_error: { status: 500, title: 'Internal error' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export function problem(code: ProblemCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  const { status, title } = PROBLEMS[code];
  return { type: `https://oncely.dev/problems/${code.replaceAll('_', '-')}`, title, status, detail, code, ...extra };
}

export function sendProblem(c: Context, value: Problem, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(value), value.status as ContentfulStatusCode, {
    'content-type': 'application/problem+json',
    ...headers,
  });
}

/** zod issues as `{ path, message }`, with JSON-pointer-like dotted paths. */
export function fieldErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[], prefix = ''): FieldError[] {
  return issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.') || '(root)',
    message: issue.message,
  }));
}
