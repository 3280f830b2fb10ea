/**
 * One command's key in a Map: its client and its id (ids are per client), joined by a character neither may hold.
 *
 * @example
 * const byKey = new Map(rows.map((row) => [keyOf(row.client_id, row.id), row]));
 */
export const keyOf = (clientId: string, id: string): string => `${clientId}\u0000${id}`;
