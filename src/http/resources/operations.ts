import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Metrics } from '../../metrics/registry.ts';
import { DASHBOARD_CSP, DASHBOARD_PAGE } from '../dashboard-page.ts';
import type { AppDeps, AppEnv } from '../deps.ts';
import { createDocsAssets, DOCS_CSP, DOCS_PAGE } from '../docs-page.ts';
import { metricsResponse } from '../metrics.ts';
import { needs } from '../middleware/authenticate.ts';
import { problem, sendProblem } from '../problem.ts';
import { createResource, serve } from '../resource.ts';
import type { Routes } from '../routes.ts';
import { StatsSchema } from '../schemas.ts';

export interface OperationsOptions extends Pick<AppDeps, 'ready' | 'stats'> {
  routes: Routes;
  metrics: Metrics;
  /** The OpenAPI document of the whole app, built at its first request. */
  document: () => Record<string, unknown>;
}

/**
 * Health, metrics, the OpenAPI document and its page, the live figures and their dashboard.
 *
 * @example
 * app.route('/', operationsResource({ routes, metrics, ready, document: () => openApiDocument(app) }));
 */
export function operationsResource(options: OperationsOptions): OpenAPIHono<AppEnv> {
  const { routes, metrics, ready, stats } = options;
  const app = createResource('no such file');
  serve(app, routes.live, (c) => c.json({ status: 'ok' as const }));
  serve(app, routes.ready, async (c) => {
    const ok = await ready().catch(() => false);
    return ok
      ? c.json({ status: 'ok' as const })
      : sendProblem(c, problem('service_unavailable', 'the database is not reachable or its schema is not current'), { 'retry-after': '5' });
  });
  serve(app, routes.metrics, () => metricsResponse(metrics));
  serve(app, routes.openapi, (c) => c.json(options.document()));
  serve(app, routes.docs, (c) => c.html(DOCS_PAGE, 200, { 'content-security-policy': DOCS_CSP, 'cache-control': 'no-cache' }));
  const assets = createDocsAssets();
  serve(app, routes.docsAsset, (c) => {
    const asset = assets.get(c.req.param('file') ?? '', { version: c.req.query('v'), acceptEncoding: c.req.header('accept-encoding') });
    return asset ? c.body(asset.body, 200, asset.headers) : sendProblem(c, problem('not_found', 'no such file'));
  });
  serve(app, { ...routes.stats, middleware: [needs('operate')] }, async (c) => {
    if (!stats) return sendProblem(c, problem('service_unavailable', 'this process does not serve stats'));
    return c.json(StatsSchema.parse(await stats(c.get('clientId'))), 200, { 'cache-control': 'no-store' });
  });
  serve(app, routes.dashboard, (c) => c.html(DASHBOARD_PAGE, 200, { 'content-security-policy': DASHBOARD_CSP, 'cache-control': 'no-cache' }));
  return app;
}
