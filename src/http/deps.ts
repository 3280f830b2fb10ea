import type { MiddlewareHandler } from 'hono';
import type { ApiKeyEntry } from '../core/api-keys.ts';
import type { Domain, ReadContext } from '../core/domain.ts';
import type { Registry } from '../core/registry.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { CommandService } from '../processor/commands.ts';
import type { Stats } from './schemas.ts';

export interface AppDeps {
  registry: Registry;
  commands: CommandService;
  /** The domains whose reads are served (`GET /v1/{collection}/{id}` and their paged sub-resources). */
  domains: readonly Pick<Domain, 'reads'>[];
  /** What those reads run against: a drizzle database and parameterised SQL over the app's pool. */
  readContext: ReadContext;
  /** Whether the database answers and the schema is current. */
  ready: () => Promise<boolean>;
  /** API_KEYS: bare keys (each a client of its own, every scope) or entries naming their client and scopes. */
  apiKeys: readonly (string | ApiKeyEntry)[];
  /**
   * The most requests that may hold a `Prefer: wait` at once in this process (default 1000). Beyond it the
   * preference is ignored: the response comes at once, without `Preference-Applied` (RFC 7240 lets a server
   * ignore a preference, and the command is stored either way, so refusing the request would only mislead).
   */
  maxWaiters?: number;
  /**
   * Aborted when the process stops: every open wait is answered at once with its command's status as it is
   * then, so the server can close without holding requests for up to 30 s.
   */
  stopping?: AbortSignal;
  /** Where requests, waits and refused submissions are counted (default: a registry of the app's own). */
  metrics?: Metrics;
  /** The live figures of `GET /v1/stats` for a client; without it the route answers 503. */
  stats?: (clientId: string) => Promise<Stats>;
  /** Runs first around every request: the server span of a submission (src/tracing/http.ts); absent when tracing is off. */
  traceRequests?: MiddlewareHandler;
  onError?: (err: unknown) => void;
}

/** What every handler finds in its context: the client the request was authenticated as. */
export type AppEnv = { Variables: { clientId: string } };
