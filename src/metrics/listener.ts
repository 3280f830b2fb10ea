// A small HTTP listener for a process without the API (a worker): Prometheus scrapes /metrics from it, and
// an orchestrator probes /health/live and /health/ready, as it does on the API's own port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './registry.ts';

export interface MetricsListenerOptions {
  port: number;
  host: string;
  /** What /metrics renders (a process still waiting for its database passes a stand-in). */
  metrics: Pick<Metrics, 'render'>;
  /** Whether the database answers and its schema is current. */
  ready: () => Promise<boolean>;
}

export interface MetricsListener {
  /** The port it listens on (the one asked for, or the one chosen for port 0). */
  port: number;
  stop(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function problem(status: number, code: string, title: string, detail: string) {
  return { type: `https://oncely.dev/problems/${code.replaceAll('_', '-')}`, title, status, detail, code };
}

/**
 * The path of a request target, or undefined when it is not one a client could mean (`//a:b`, `*`, garbage):
 * origin-form (`/metrics?x`) is read as is, absolute-form (`http://host/metrics`) through URL.
 */
export function pathOfTarget(target: string | undefined): string | undefined {
  if (!target) return undefined;
  if (target.startsWith('/')) return target.split(/[?#]/, 1)[0];
  try {
    const url = new URL(target);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.pathname : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serves `/metrics`, `/health/live` and `/health/ready` on a port of its own.
 *
 * @example
 * const listener = await startMetricsListener({ port: 9464, host: '127.0.0.1', metrics: system.metrics, ready: system.ready });
 * await listener.stop();
 */
export async function startMetricsListener(options: MetricsListenerOptions): Promise<MetricsListener> {
  // Whatever comes in is answered: a request this handler cannot read gets 400, never a thrown error (one
  // malformed target used to kill the whole worker), and a failure inside it gets 500.
  const server: Server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch {
      if (!res.headersSent) json(res, 500, problem(500, 'internal_error', 'Internal error', 'the request could not be handled'));
      else res.destroy();
    }
  });
  function handle(req: IncomingMessage, res: ServerResponse) {
    const path = pathOfTarget(req.url);
    if (path === undefined) return json(res, 400, problem(400, 'invalid_request', 'Invalid request', 'the request target is not a path'));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return json(res, 405, problem(405, 'method_not_allowed', 'Method not allowed', 'this path takes GET, HEAD'), { allow: 'GET, HEAD' });
    }
    if (path === '/health/live') return json(res, 200, { status: 'ok' });
    if (path === '/health/ready') {
      void options
        .ready()
        .then(
          (ok) => ok,
          () => false,
        )
        .then((ok) =>
          ok
            ? json(res, 200, { status: 'ok' })
            : json(res, 503, problem(503, 'service_unavailable', 'Service unavailable', 'the database is not reachable or its schema is not current'), {
                'retry-after': '5',
              }),
        );
      return;
    }
    if (path === '/metrics') {
      void options.metrics.render().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(body);
        },
        () => json(res, 500, problem(500, 'internal_error', 'Internal error', 'the metrics could not be collected')),
      );
      return;
    }
    return json(res, 404, problem(404, 'not_found', 'Not found', 'no such route'));
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Scrapers keep connections alive; closing them lets the process exit at once.
        server.closeAllConnections();
      }),
  };
}
