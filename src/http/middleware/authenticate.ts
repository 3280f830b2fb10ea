import type { Context, MiddlewareHandler } from 'hono';
import { createHash, timingSafeEqual } from 'node:crypto';
import { API_SCOPES, type ApiKeyEntry, type ApiScope } from '../../core/api-keys.ts';
import type { AppEnv } from '../deps.ts';
import { problem, sendProblem } from '../problem.ts';

export const ANONYMOUS = 'anonymous';

/** A bare key's client id: a digest of the key, so the key itself is never stored. */
export function clientIdOf(apiKey: string): string {
  return `key-${createHash('sha256').update(apiKey).digest('hex').slice(0, 16)}`;
}

/**
 * The client id an API_KEYS entry stands for: a named client's name (so its keys share one id and a key can
 * be rotated without losing its commands), else the bare key's digest (the id bare keys always had).
 *
 * @example
 * clientIdOfEntry({ client: 'billing', key: 'k1...', scopes: ['submit'] }); // 'billing'
 */
export function clientIdOfEntry(entry: string | ApiKeyEntry): string {
  if (typeof entry === 'string') return clientIdOf(entry);
  return entry.client ?? clientIdOf(entry.key);
}

/** The scopes of the key each request was authenticated with. Kept beside the request, not in its variables: the app's public type (oncely.app) stays as it was. */
const scopesOf = new WeakMap<Context, readonly ApiScope[]>();

/**
 * Sets the request's `clientId` from its `Authorization: Bearer <key>`, or answers 401. Without keys every
 * request is the anonymous client with every scope; `/health/*` and `/dashboard` never need a key.
 *
 * @example
 * app.use('*', authenticate(['k1...', { client: 'billing', key: 'k2...', scopes: ['submit'] }]));
 */
export function authenticate(apiKeys: readonly (string | ApiKeyEntry)[]): MiddlewareHandler<AppEnv> {
  const keys = apiKeys.map((entry) => ({
    digest: createHash('sha256')
      .update(typeof entry === 'string' ? entry : entry.key)
      .digest(),
    clientId: clientIdOfEntry(entry),
    scopes: typeof entry === 'string' ? API_SCOPES : entry.scopes,
  }));
  return async (c, next) => {
    if (keys.length === 0) {
      c.set('clientId', ANONYMOUS);
      scopesOf.set(c, API_SCOPES);
      return next();
    }
    const path = new URL(c.req.url).pathname;
    // The dashboard's page holds no data (its every fetch sends the key), so a browser can load it to ask for one.
    if (path.startsWith('/health/') || path === '/dashboard') {
      c.set('clientId', ANONYMOUS);
      return next();
    }
    const match = /^Bearer +([\x21-\x7e]{1,512})$/i.exec(c.req.header('authorization') ?? '');
    const given = createHash('sha256')
      .update(match?.[1] ?? '')
      .digest();
    // Compare digests in constant time against every key, so timing tells nothing about which key is close.
    let found: (typeof keys)[number] | undefined;
    for (const key of keys) if (timingSafeEqual(given, key.digest) && match) found = key;
    if (!found) {
      return sendProblem(c, problem('unauthorized', 'a valid API key is required: Authorization: Bearer <key>'), { 'www-authenticate': 'Bearer' });
    }
    c.set('clientId', found.clientId);
    scopesOf.set(c, found.scopes);
    return next();
  };
}

const SCOPE_ACTIONS: Record<ApiScope, string> = { submit: 'submit commands', read: 'read commands or entities', operate: 'read dead letters, replay or read stats' };

/**
 * A route's scope: a key without it is answered 403 (the key is valid, so 401 would mislead).
 *
 * @example
 * app.openapi({ ...routes.replayCommand, middleware: [needs('operate')] }, replay);
 */
export function needs(scope: ApiScope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!scopesOf.get(c)?.includes(scope)) return sendProblem(c, problem('forbidden', `this API key may not ${SCOPE_ACTIONS[scope]} (it lacks the ${scope} scope)`));
    return next();
  };
}
