import type { OpenAPIHono } from '@hono/zod-openapi';
import type { CommandService } from '../../processor/commands.ts';
import type { AppEnv } from '../deps.ts';
import { needs } from '../middleware/authenticate.ts';
import { problem, sendProblem } from '../problem.ts';
import { createResource, serve } from '../resource.ts';
import type { Routes } from '../routes.ts';

/**
 * `GET /v1/dead-letters`: the caller's dead commands, a page at a time (its query validated by the route's declaration).
 *
 * @example
 * app.route('/', deadLettersResource(routes, commands));
 */
export function deadLettersResource(routes: Routes, commands: CommandService): OpenAPIHono<AppEnv> {
  const app = createResource('no such route');
  serve(app, { ...routes.listDeadLetters, middleware: [needs('operate')] }, async (c) => {
    const { limit, cursor } = c.req.valid('query') as { limit?: string; cursor?: string };
    const page = await commands.deadLetters(c.get('clientId'), { limit: Number(limit ?? 50), cursor });
    if (!page)
      return sendProblem(c, problem('invalid_request', 'the cursor is not one this API handed out', { errors: [{ path: 'cursor', message: 'unknown cursor' }] }));
    return c.json(page);
  });
  return app;
}
