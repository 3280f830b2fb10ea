// What the API port answers while the process waits for PostgreSQL at start: alive, not ready.
import { PROBLEM_CONTENT_TYPE, problem } from './problem.ts';

/**
 * `/health/live` is 200 (the process runs; restarting it would not help), everything else 503 with
 * Retry-After, `/health/ready` included, until the real app takes over.
 *
 * @example
 * serve({ fetch: (request) => (app ? app.fetch(request) : startingResponse(request)) });
 */
export function startingResponse(request: Request): Response {
  const path = new URL(request.url).pathname;
  if (path === '/health/live' && (request.method === 'GET' || request.method === 'HEAD')) {
    return Response.json({ status: 'ok' });
  }
  const body = problem('service_unavailable', 'the service is starting: it waits for the database');
  return new Response(JSON.stringify(body), { status: 503, headers: { 'content-type': PROBLEM_CONTENT_TYPE, 'retry-after': '5' } });
}
