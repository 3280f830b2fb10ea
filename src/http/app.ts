import { OpenAPIHono } from '@hono/zod-openapi';
import { createMetrics } from '../metrics/registry.ts';
import type { AppDeps, AppEnv } from './deps.ts';
import { authenticate, clientIdOfEntry } from './middleware/authenticate.ts';
import { problemNotFound, problemOnError } from './middleware/problems.ts';
import { requestMetrics } from './middleware/request-metrics.ts';
import { openApiDocument } from './openapi.ts';
import { commandsResource } from './resources/commands.ts';
import { deadLettersResource } from './resources/dead-letters.ts';
import { entityResources } from './resources/entities.ts';
import { operationsResource } from './resources/operations.ts';
import { createRoutes } from './routes.ts';
import { createWaits } from './waits.ts';

export type { AppDeps, AppEnv } from './deps.ts';
export { ANONYMOUS, clientIdOf, clientIdOfEntry } from './middleware/authenticate.ts';
export { MAX_BATCH, MAX_BODY_BYTES } from './schemas.ts';
export { preferredWait } from './waits.ts';

/**
 * The HTTP API as a Hono app, with no server attached: `app.request()` in tests, `serve()` in main. Every
 * route is declared once in `createRoutes`/`createReadRoutes`: @hono/zod-openapi validates requests against
 * those declarations and generates `/openapi.json` from them.
 *
 * @example
 * const app = createApp({ registry, commands, domains: referenceDomains, readContext: { db, sql }, ready, apiKeys: [] });
 * const res = await app.request('/health/live');
 */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const routes = createRoutes(deps.registry);
  const metrics = deps.metrics ?? createMetrics({ commandTypes: deps.registry.types });
  const clients = new Set(deps.apiKeys.map(clientIdOfEntry)).size;
  const beginWait = createWaits({ commands: deps.commands, metrics, maxWaiters: deps.maxWaiters ?? 1000, clients, stopping: deps.stopping });
  let document: Record<string, unknown> | undefined;

  app.onError(problemOnError(deps.onError));
  app.notFound(problemNotFound(app));
  if (deps.traceRequests) app.use('*', deps.traceRequests);
  app.use('*', requestMetrics(metrics));
  app.use('*', authenticate(deps.apiKeys));

  // Mounted in the order the OpenAPI document lists them.
  app.route('/', commandsResource({ routes, registry: deps.registry, commands: deps.commands, metrics, beginWait }));
  app.route('/', deadLettersResource(routes, deps.commands));
  for (const reads of entityResources(
    deps.domains.flatMap((domain) => domain.reads),
    deps.readContext,
  ))
    app.route('/', reads);
  app.route('/', operationsResource({ routes, metrics, ready: deps.ready, stats: deps.stats, document: () => (document ??= openApiDocument(app)) }));
  return app;
}
