/**
 * A value as a jsonb parameter: its JSON text, or SQL NULL for null and undefined (never the JSON `null`).
 *
 * @example
 * await sql.query('update t set result = $1', [jsonOrNull(outcome.result)]);
 */
export const jsonOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/**
 * Strings or numbers as an array parameter (`$1::text[]`, `$1::integer[]`): the array pg would send, built by
 * one native JSON.stringify instead of pg's escaping in JavaScript element by element (a batch sends
 * thousands). When the JSON has no backslash, no element needed escaping, and `["a",1,null]` is the array
 * literal `{"a",1,null}`; otherwise (or for any other element: a boolean, a Date, undefined, a number JSON
 * cannot hold) pg builds it.
 *
 * @example
 * await sql.query('select * from t where id = any($1::text[])', [arrayLiteral(ids)]);
 */
export function arrayLiteral<T>(values: readonly T[]): string | readonly T[] {
  for (const value of values) {
    if (typeof value === 'number' ? !Number.isFinite(value) : typeof value !== 'string' && value !== null) return values;
  }
  const json = JSON.stringify(values);
  return json.includes('\\') ? values : `{${json.slice(1, -1)}}`;
}

/**
 * JSON texts (as JSON.stringify or jsonOrNull made them; null and undefined are SQL NULL) as a `jsonb[]`
 * parameter, the array literal built by one JSON.stringify of the texts. A text JSON.stringify made holds no
 * control character and no lone surrogate (it escapes them), so the only characters JSON escapes in it are
 * `"` and `\`, each with a backslash, exactly as an array literal escapes them.
 *
 * @example
 * await sql.query('select * from unnest($1::jsonb[])', [jsonArrayLiteral(results.map(jsonOrNull))]);
 */
export function jsonArrayLiteral(texts: readonly (string | null | undefined)[]): string {
  return `{${JSON.stringify(texts).slice(1, -1)}}`;
}
