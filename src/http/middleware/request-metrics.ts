import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Metrics } from '../../metrics/registry.ts';

/**
 * Counts and times every request by method, route pattern (`/v1/commands/:id`, never the raw path, so label
 * sets stay bounded) and status; a request no route matched is labelled "unmatched".
 *
 * @example
 * app.use('*', requestMetrics(metrics));
 */
export function requestMetrics(metrics: Metrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = routePath(c, -1);
    metrics.httpRequest(c.req.method, route === '*' || route === '' ? 'unmatched' : route, c.res.status, (performance.now() - started) / 1000);
  };
}
