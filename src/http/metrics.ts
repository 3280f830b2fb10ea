import type { Metrics } from '../metrics/registry.ts';

/**
 * The `/metrics` answer: every family of src/metrics/registry.ts plus the process metrics, in the
 * Prometheus text format. Routes are labelled by their pattern (`/v1/commands/:id`), never by the raw
 * path, and command types outside the registry by "unknown", so label sets stay bounded whatever clients send.
 *
 * @example
 * app.get('/metrics', () => metricsResponse(metrics));
 */
export async function metricsResponse(metrics: Metrics): Promise<Response> {
  const { contentType, body } = await metrics.render();
  return new Response(body, { status: 200, headers: { 'content-type': contentType } });
}
