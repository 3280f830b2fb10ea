import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * The request fingerprint: SHA-256 (hex) of the canonical JSON of `{type, entityId, expectedVersion, payload}`.
 *
 * @example
 * fingerprint({ type: 'account.credit', entityId: 'acc-1', expectedVersion: undefined, payload: { amount: 5 } })
 */
export function fingerprint(request: { type: string; entityId: string; expectedVersion: number | undefined; payload: unknown }): string {
  const { type, entityId, expectedVersion, payload } = request;
  return createHash('sha256').update(canonicalJson({ type, entityId, expectedVersion, payload })).digest('hex');
}
