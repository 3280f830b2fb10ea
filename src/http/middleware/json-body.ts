import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../deps.ts';
import { problem, sendProblem } from '../problem.ts';
import { MAX_BODY_BYTES } from '../schemas.ts';

// The test of @hono/zod-openapi's media-type gate for a JSON body, so a body this middleware lets through is
// never refused there (where it would be an exception, not our problem+json).
const JSON_MEDIA_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

const bodies = new WeakMap<Context, unknown>();

/** The parsed JSON body of a request that went through `jsonBody` (the value as sent, before any schema). */
export function bodyOf(c: Context): unknown {
  return bodies.get(c);
}

const mediaType: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!JSON_MEDIA_TYPE.test(c.req.header('content-type') ?? '')) return sendProblem(c, problem('unsupported_media_type', 'send the body as application/json'));
  return next();
};

const tooLarge = (c: Context) => sendProblem(c, problem('payload_too_large', `the body is over ${MAX_BODY_BYTES} bytes`));

// A chunked body is counted while it is read.
const streamLimited = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });

/**
 * A Content-Length over the limit is refused before reading; under it, the HTTP parser delivers no more
 * than it says, so the body is read as it is (on a Node server straight from the socket, without the Web
 * stream that hono's bodyLimit would make the adapter build for every request). Only a body without a
 * length goes through the counting reader.
 */
const limited: MiddlewareHandler<AppEnv> = async (c, next) => {
  const length = c.req.header('content-length');
  if (length === undefined || c.req.header('transfer-encoding') !== undefined) return streamLimited(c, next);
  return parseInt(length, 10) > MAX_BODY_BYTES ? tooLarge(c) : next();
};

/**
 * A JSON body, checked in the order a client can fix it: media type (415), size (413), syntax (400). The
 * value is kept for `bodyOf`; the route's declared schema checks it next.
 *
 * @example
 * app.openapi({ ...routes.submitBatch, middleware: [needs('submit'), ...jsonBody()] }, handler);
 */
export function jsonBody(onMalformed?: () => void): MiddlewareHandler<AppEnv>[] {
  const parse: MiddlewareHandler<AppEnv> = async (c, next) => {
    const text = await c.req.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      onMalformed?.();
      return sendProblem(c, problem('invalid_request', 'the body is not valid JSON', { errors: [{ path: '(root)', message: 'malformed JSON' }] }));
    }
    bodies.set(c, value);
    return next();
  };
  return [mediaType, limited, parse];
}
