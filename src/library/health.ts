// oncely.health: the health endpoints (and /metrics) of an oncely as a fetch handler, so a process without
// the api role (a worker, a submitter) can answer its orchestrator's probes on a port or a router of its own.
// The same answers as the API's /health/* and the service's METRICS_PORT listener.

/** What the handler reads: undefined while the oncely is not started (or stopped). */
export interface HealthSource {
  /** Whether the database answers and oncely's schema is current. */
  ready(): Promise<boolean>;
  /** The Prometheus exposition of this process. */
  metrics: { render(): Promise<{ contentType: string; body: string }> };
}

const problem = (status: number, code: string, title: string, detail: string, headers: Record<string, string> = {}) =>
  Response.json(
    { type: `https://oncely.dev/problems/${code.replaceAll('_', '-')}`, title, status, detail, code },
    { status, headers: { 'content-type': 'application/problem+json', ...headers } },
  );

/**
 * A fetch handler answering `GET /health/live` (200 while the process runs), `GET /health/ready` (200 when
 * the oncely is started, the database answers and the schema is current, else 503) and `GET /metrics`,
 * matched on the end of the path, so it may be mounted under a prefix.
 *
 * @example
 * const health = createHealthHandler(() => system);
 * serve({ fetch: health, port: 9464 });
 */
export function createHealthHandler(source: () => HealthSource | undefined): (request: Request) => Promise<Response> {
  return async (request) => {
    const path = new URL(request.url).pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return problem(405, 'method_not_allowed', 'Method not allowed', 'this path takes GET, HEAD', { allow: 'GET, HEAD' });
    }
    if (path.endsWith('/health/live')) return Response.json({ status: 'ok' });
    const current = source();
    if (path.endsWith('/health/ready')) {
      const ok = current ? await current.ready().catch(() => false) : false;
      if (ok) return Response.json({ status: 'ok' });
      const detail = current ? 'the database is not reachable or its schema is not current' : 'oncely is not started';
      return problem(503, 'service_unavailable', 'Service unavailable', detail, { 'retry-after': '5' });
    }
    if (path.endsWith('/metrics')) {
      if (!current) return problem(503, 'service_unavailable', 'Service unavailable', 'oncely is not started', { 'retry-after': '5' });
      const { contentType, body } = await current.metrics.render();
      return new Response(body, { headers: { 'content-type': contentType } });
    }
    return problem(404, 'not_found', 'Not found', 'no such route');
  };
}
