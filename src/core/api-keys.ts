// What an API key is, shared by the configuration that parses API_KEYS and the HTTP layer that checks them.

/** What an API key may do: `submit` commands, `read` commands and entities, `operate` (dead letters, replay, stats). */
export const API_SCOPES = ['submit', 'read', 'operate'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** One API_KEYS entry: a key, the client it belongs to (undefined: a bare key, a client of its own) and what it may do. */
export interface ApiKeyEntry {
  client: string | undefined;
  key: string;
  scopes: readonly ApiScope[];
}
