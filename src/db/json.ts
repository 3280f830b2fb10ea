/**
 * A value as a jsonb parameter: its JSON text, or SQL NULL for null and undefined (never the JSON `null`).
 *
 * @example
 * await sql.query('update t set result = $1', [jsonOrNull(outcome.result)]);
 */
export const jsonOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));
