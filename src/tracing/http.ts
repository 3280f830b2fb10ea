import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';

// Stable HTTP semantic-convention names, spelled out: this module loads even with tracing off.
const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
const ATTR_URL_PATH = 'url.path';
const ATTR_HTTP_ROUTE = 'http.route';
const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';

/** The requests that store commands: the ones whose trace a worker continues. */
const TRACED = new Set(['/v1/commands', '/v1/commands/batch']);

/**
 * A server span for each submission request (POST /v1/commands and /v1/commands/batch), continuing the
 * caller's trace when the request carries a W3C `traceparent`, and active while the request runs (so the
 * `oncely.submit` span and log lines are inside it). Other requests pass through untouched.
 *
 * @example
 * app.use('*', traceRequests(tracer));
 */
export function traceRequests(tracer: Tracer): MiddlewareHandler {
  return async (c, next) => {
    const path = c.req.path;
    if (c.req.method !== 'POST' || !TRACED.has(path)) return next();
    const parent = propagation.extract(ROOT_CONTEXT, c.req.header());
    const attributes = { [ATTR_HTTP_REQUEST_METHOD]: 'POST', [ATTR_URL_PATH]: path, [ATTR_HTTP_ROUTE]: path };
    await tracer.startActiveSpan(`POST ${path}`, { kind: SpanKind.SERVER, attributes }, parent, async (span) => {
      try {
        await next();
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, c.res.status);
        // A client's mistake (4xx) is the client's; only a server failure marks the span as an error.
        if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    });
  };
}
