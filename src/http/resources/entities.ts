import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AnyRead, EntityRead, PageRead, ReadContext } from '../../core/domain.ts';
import type { AppEnv } from '../deps.ts';
import { needs } from '../middleware/authenticate.ts';
import { problem, sendProblem } from '../problem.ts';
import { createResource, serve } from '../resource.ts';
import { createReadRoutes } from '../routes.ts';
import { entityTagOf, versionOfEntityTag } from '../validate.ts';

/** Whether an `If-None-Match` header names the entity at `version` (weak comparison, RFC 9110). */
function noneMatch(header: string | undefined, version: number): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => versionOfEntityTag(tag) === version);
}

/** An entity read with its version as the ETag, and 304 for a matching If-None-Match. */
function entity(read: EntityRead, context: ReadContext) {
  return async (c: Context<AppEnv>) => {
    const row = await read.read(context, c.req.param('id') ?? '');
    if (!row) return sendProblem(c, problem('not_found', `no ${read.name} with this id`));
    const value = read.schema.parse(row);
    const etag = entityTagOf(value.version);
    if (noneMatch(c.req.header('if-none-match'), value.version)) return c.body(null, 304, { etag });
    return c.json(value, 200, { etag });
  };
}

/**
 * The domains' reads, one sub-app each (so each answers an impossible id with its own "no <name> with this
 * id"): an entity by id with its ETag, and pages of its sub-resources (an unknown parent is 404).
 *
 * @example
 * for (const app of entityResources(referenceDomains.flatMap((d) => d.reads), readContext)) api.route('/', app);
 */
export function entityResources(reads: readonly AnyRead[], context: ReadContext): OpenAPIHono<AppEnv>[] {
  return createReadRoutes(reads).map((served) => {
    const app = createResource(`no ${served.read.name} with this id`);
    const route = { ...served.route, middleware: [needs('read')] };
    if (served.kind === 'entity') {
      serve(app, route, entity(served.read, context));
      return app;
    }
    const read: PageRead = served.read;
    serve(app, route, async (c) => {
      const query = c.req.valid('query') as { limit?: string; cursor?: string };
      const limit = query.limit === undefined ? read.limit.fallback : Number(query.limit);
      const body = await read.read(context, c.req.param('id') ?? '', { limit, cursor: query.cursor });
      return body ? c.json(read.schema.parse(body) as object) : sendProblem(c, problem('not_found', `no ${read.name} with this id`));
    });
    return app;
  });
}
