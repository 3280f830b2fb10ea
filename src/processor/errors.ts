/** SQLSTATEs that say "try again": the same statement may well succeed on a later attempt. */
const RETRYABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown (pg_terminate_backend, fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
  '08000',
  '08003',
  '08006',
  '08001',
  '08004', // connection exceptions
  '53300', // too_many_connections
]);

const CONNECTION_ERROR_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);

function codeOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** The connection under the transaction is gone: nothing more can run on it. */
export function isConnectionLost(err: unknown): boolean {
  const code = codeOf(err);
  if (code && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'))) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection (is )?closed|Client has encountered a connection error|not queryable|timeout exceeded when trying to connect/i.test(message);
}

/** Whether PostgreSQL (or the network) says the same work may succeed if tried again. */
export function isRetryable(err: unknown): boolean {
  const code = codeOf(err);
  return (code !== undefined && RETRYABLE_SQLSTATES.has(code)) || isConnectionLost(err);
}

/** A description of a failure that is safe to show a client: no SQL, no stack, no paths. */
export function describeFailure(err: unknown): { code: string; message: string } {
  const sqlstate = codeOf(err);
  if (isRetryable(err)) {
    return { code: 'transient_error', message: `transient database failure${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}` };
  }
  if (sqlstate && /^[0-9A-Z]{5}$/.test(sqlstate)) {
    return { code: 'handler_error', message: `the handler failed with a database error (SQLSTATE ${sqlstate})` };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'handler_error', message: clientSafeText(message) };
}

/** The longest handler error text a client is shown (in code points). */
export const MAX_ERROR_TEXT = 120;

/**
 * A handler's error text as a client may see it: its first line, control characters gone, URLs (which may
 * carry credentials) and file paths replaced, at most MAX_ERROR_TEXT code points. The full error is in the log.
 *
 * @example
 * clientSafeText('connect failed: postgres://u:pw@db/x\n    at f (/srv/app/x.js:1:2)'); // 'connect failed: <url>'
 */
export function clientSafeText(message: string): string {
  const line = (message.split(/\r?\n/, 1)[0] ?? '')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, '<url>')
    .replace(/(?:[A-Za-z]:)?(?:[\\/][\w.@~-]+){2,}[\\/]?/g, '<path>')
    .replace(/\s+/g, ' ')
    .trim();
  const points = Array.from(line);
  const text = points.length > MAX_ERROR_TEXT ? `${points.slice(0, MAX_ERROR_TEXT - 1).join('')}…` : line;
  return text || 'the handler failed';
}
