// A resource is a sub-app of routes declared once with @hono/zod-openapi: the declaration is both what
// /openapi.json says and what the request is validated against, and a failed check is our problem+json.
import { OpenAPIHono, type Hook, type RouteConfig } from '@hono/zod-openapi';
import type { Handler, Input } from 'hono';
import type { AppEnv } from './deps.ts';
import { fieldErrors, problem, sendProblem } from './problem.ts';

/** What a route's hook may answer with: nothing (the request passed) or a response. */
export type RouteHook = Hook<unknown, AppEnv, string, Response | undefined | Promise<Response | undefined>>;

/** What a handler may read with `c.req.valid(target)`: the parts its route declares, already checked. */
type ValidatedInput = Input & { out: Partial<Record<'query' | 'param' | 'header' | 'json', unknown>> };

const PARTS: Partial<Record<string, string>> = { json: 'body', form: 'body' };

/**
 * The default answer to a request that fails its route's declaration: a path parameter outside its schema
 * names nothing that can exist (404 with the resource's own wording), a bad query parameter is 400
 * `invalid_request` with one entry per field. Bodies and headers have hooks of their own where the
 * refusal is more specific (src/http/resources/commands.ts).
 *
 * @example
 * new OpenAPIHono<AppEnv>({ defaultHook: refuseInvalid('no command with this id') });
 */
export function refuseInvalid(notFound: string): RouteHook {
  return (result, c) => {
    if (result.success) return undefined;
    if (result.target === 'param') return sendProblem(c, problem('not_found', notFound));
    const errors = fieldErrors(result.error.issues);
    if (result.target === 'query') return sendProblem(c, problem('invalid_request', 'a query parameter is not valid', { errors }));
    return sendProblem(c, problem('invalid_request', `the request ${PARTS[result.target] ?? result.target} is not valid`, { errors }));
  };
}

/**
 * A sub-app whose routes answer a path parameter outside its schema with `notFound`.
 *
 * @example
 * const commands = createResource('no command with this id');
 */
export function createResource(notFound: string): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: refuseInvalid(notFound) });
}

/**
 * Serves a declared route on a resource: @hono/zod-openapi validates the request against the declaration
 * (its `middleware` running first) and adds the route to the document. Handlers answer with plain
 * responses: a problem is `application/problem+json`, which the library's typed helpers do not cover.
 *
 * @example
 * serve(app, { ...routes.getCommand, middleware: [needs('read')] }, (c) => c.json(status));
 */
export function serve(app: OpenAPIHono<AppEnv>, route: RouteConfig, handler: Handler<AppEnv, string, ValidatedInput>, hook?: RouteHook): void {
  app.openapi(route, handler as never, hook as never);
}

/**
 * Serves a declared route whose headers and body the handler checks itself, once: the declaration goes into
 * the document as it is, but @hono/zod-openapi does not check the request against it beforehand. For the
 * submission routes, whose intake (src/processor/intake.ts) accepts nothing the declaration refuses and names
 * the most specific reason for each refusal: checking both parsed every body twice
 * (test/unit/submit-declaration.test.ts keeps the two in step). Path and query parameters are still validated.
 *
 * @example
 * serveChecked(app, { ...routes.submitCommand, middleware: [needs('submit'), ...jsonBody()] }, (c) => submit(c, bodyOf(c)));
 */
export function serveChecked(app: OpenAPIHono<AppEnv>, route: RouteConfig, handler: Handler<AppEnv, string, ValidatedInput>): void {
  const { middleware: _middleware, ...declared } = route;
  const { headers: _headers, body: _body, ...request } = route.request ?? {};
  app.openAPIRegistry.registerPath(declared);
  app.openapi({ ...route, request, hide: true }, handler as never);
}
