import type { ErrorHandler, NotFoundHandler } from 'hono';
import { isRetryable } from '../../processor/errors.ts';
import { problem, sendProblem } from '../problem.ts';

/**
 * Answers what no handler answered: a retryable database failure is 503 with Retry-After (the request is
 * idempotent), anything else 500; the error goes to `report`, never into the response.
 *
 * @example
 * app.onError(problemOnError((err) => log.error({ err }, 'request failed')));
 */
export function problemOnError(report?: (err: unknown) => void): ErrorHandler {
  return (err, c) => {
    report?.(err);
    if (isRetryable(err)) {
      return sendProblem(c, problem('service_unavailable', 'the database is unavailable for a moment; retry the request (it is idempotent)'), { 'retry-after': '1' });
    }
    return sendProblem(c, problem('internal_error', 'the server could not complete the request'));
  };
}

/**
 * 404 for a path no route serves; 405 with Allow for a path served under other methods (HEAD comes with
 * GET), and 204 with Allow for OPTIONS. The methods are read from the app's own routes.
 *
 * @example
 * app.notFound(problemNotFound(app));
 */
export function problemNotFound(app: { routes: readonly { method: string; path: string }[] }): NotFoundHandler {
  let patterns: { method: string; regex: RegExp }[] | undefined;
  function allowedMethods(path: string): string[] {
    // Built at the first miss, when every route is registered; middlewares are registered as ALL.
    patterns ??= app.routes
      .filter((route) => route.method !== 'ALL')
      .map((route) => ({ method: route.method, regex: new RegExp(`^${route.path.replaceAll('.', '\\.').replaceAll(/:\w+/g, '[^/]+')}$`) }));
    const methods = new Set(patterns.filter((p) => p.regex.test(path)).map((p) => p.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods];
  }
  return (c) => {
    const allowed = allowedMethods(new URL(c.req.url).pathname);
    if (allowed.length === 0) return sendProblem(c, problem('not_found', 'no such route'));
    if (c.req.method === 'OPTIONS') return c.body(null, 204, { allow: [...allowed, 'OPTIONS'].join(', ') });
    return sendProblem(c, problem('method_not_allowed', `this path takes ${allowed.join(', ')}`), { allow: allowed.join(', ') });
  };
}
