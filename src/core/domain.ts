// A domain is one module: its command types, its drizzle tables, its row descriptors and its entity reads,
// declared together with defineDomain. Everything else (the processor's registry, the HTTP routes and
// their OpenAPI, the metrics, the schema export, the typed client) iterates the registered domains, so
// adding an entity or a command type touches only its domain's folder.
//
// The drizzle imports below are types only (erased at run time): a read is typed against drizzle's query
// builder, yet core still loads with zod alone.
import type { PgTable } from 'drizzle-orm/pg-core';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { z } from 'zod';
import type { AnyCommandDefinition, Sql } from './command.ts';
import type { AppendTable, EntityTable } from './table.ts';

/**
 * What an entity read gets: a drizzle database and the same pool as parameterised SQL, both outside any
 * command transaction (a read sees committed state only).
 *
 * @example
 * read: async ({ db }, id) => (await db.select().from(tickets).where(eq(tickets.id, id)))[0] ?? null
 */
export interface ReadContext {
  // The query builder (select/insert/...) needs no schema generic: domains' tables are not registered on it.
  db: NodePgDatabase;
  sql: Sql;
}

/**
 * A page request as the route parsed it: `limit` within the read's bounds, `cursor` as the client sent it.
 *
 * @example
 * async function readNotes(ctx: ReadContext, id: string, { limit, cursor }: PageRequest) { ... }
 */
export interface PageRequest {
  limit: number;
  cursor: string | undefined;
}

/**
 * A response schema of an entity: its output carries the row's `version`, which is also its ETag.
 *
 * @example
 * const TicketSchema: EntitySchema = z.object({ id: z.string(), version: EntityVersion }).meta({ id: 'Ticket' });
 */
export type EntitySchema = z.ZodType<{ version: number }>;

/**
 * `GET /v1/{collection}/{id}`: one entity, its `version` as the ETag, 304 for a matching If-None-Match,
 * 404 `no {name} with this id` for an unknown id. Made by `entityRead`.
 *
 * @example
 * const read: EntityRead = entityRead({ collection: 'tickets', name: 'ticket', schema: TicketSchema, read: readTicket });
 * read.operationId; // 'getTicket'
 */
export interface EntityRead<S extends EntitySchema = EntitySchema, C extends string = string> {
  readonly kind: 'entity';
  /** The URL segment: `accounts` serves `/v1/accounts/{id}`. */
  readonly collection: C;
  /** One entity in words ("account", "red packet"): the not-found message and the default operationId. */
  readonly name: string;
  readonly operationId: string;
  readonly summary: string;
  /** The 200 response's description. */
  readonly description: string;
  /** The response body; give it `.meta({ id })` so the OpenAPI document names it once. */
  readonly schema: S;
  /** The entity, or null for an unknown id; the route parses it with `schema`. */
  read(ctx: ReadContext, id: string): Promise<z.input<S> | null>;
}

/**
 * `GET /v1/{collection}/{id}/{path}?limit&cursor`: a page of an entity's sub-resource (an account's
 * ledger). Made by `pageRead`.
 *
 * @example
 * const ledger = accountsDomain.reads.find((read): read is PageRead => read.kind === 'page'); // GET /v1/accounts/{id}/ledger
 */
export interface PageRead<S extends z.ZodType = z.ZodType> {
  readonly kind: 'page';
  readonly collection: string;
  /** The sub-resource's URL segment: `ledger` serves `/v1/accounts/{id}/ledger`. */
  readonly path: string;
  /** The parent entity in words: 404 says `no {name} with this id`. */
  readonly name: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description: string;
  /** The page body, usually from `pageSchema`. */
  readonly schema: S;
  /** `limit` is a whole number from 1 to `max`, `fallback` when left out. */
  readonly limit: { readonly max: number; readonly fallback: number };
  /** The page, or null when the parent entity does not exist. A cursor it does not know reads as the start. */
  read(ctx: ReadContext, id: string, page: PageRequest): Promise<z.input<S> | null>;
}

/**
 * Any read of any domain. Reads are contravariant in their schema's input, so a list of them is held at
 * this erased type.
 *
 * @example
 * const reads: AnyRead[] = domains.flatMap((domain) => [...domain.reads]);
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the erased type the comment above explains
export type AnyRead = EntityRead<any> | PageRead<any>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any domain's tables, erased like AnyRead
type AnyRows = EntityTable<any> | AppendTable<any>;

/**
 * One domain: everything oncely needs to serve its command types and its entities. Made by `defineDomain`.
 *
 * @example
 * const served: readonly Domain[] = [...referenceDomains, ticketsDomain];
 */
export interface Domain<C extends readonly AnyCommandDefinition[] = readonly AnyCommandDefinition[], R extends readonly AnyRead[] = readonly AnyRead[]> {
  readonly name: string;
  /** Its command types, from `defineCommand`. */
  readonly commands: C;
  /** Its drizzle tables, by export name: what drizzle-kit and the schema-drift check read. */
  readonly tables: Readonly<Record<string, PgTable>>;
  /** Its row descriptors (entityTable/appendTable): the set-based processor's view of its tables. */
  readonly rows: readonly AnyRows[];
  /** Its HTTP reads. */
  readonly reads: R;
  /**
   * The folder of its own SQL migrations, applied by oncely's migrate with a journal of their own: `.sql` files
   * in name order, or drizzle-kit's output (its `meta/_journal.json` order). None: the application migrates them.
   */
  readonly migrations?: string | URL;
}

const SEGMENT = /^[a-z][a-z0-9-]{0,62}$/;
const OPERATION_ID = /^[A-Za-z][A-Za-z0-9]{0,62}$/;
/** First segments of /v1/... that oncely's own routes hold. */
const RESERVED = new Set(['commands', 'dead-letters', 'stats']);

const pascal = (words: string) =>
  words
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join('');
const article = (word: string) => (/^[aeiou]/i.test(word) ? 'an' : 'a');

function checkSegment(what: string, value: string): void {
  if (!SEGMENT.test(value)) throw new Error(`${what} ${JSON.stringify(value)} must be lower-case letters, digits and dashes`);
}

/**
 * Declares `GET /v1/{collection}/{id}`. The operationId, summary and 200 description default from `name`
 * (`red packet` -> `getRedPacket`, "Read a red packet", "The red packet.").
 *
 * @example
 * const ticketRead = entityRead({
 *   collection: 'tickets',
 *   name: 'ticket',
 *   schema: TicketSchema, // z.object({ id, status, version, ... }).meta({ id: 'Ticket' })
 *   read: async ({ db }, id) => (await db.select().from(tickets).where(eq(tickets.id, id)))[0] ?? null,
 * });
 */
export function entityRead<S extends EntitySchema, const C extends string>(definition: {
  collection: C;
  name: string;
  schema: S;
  read: (ctx: ReadContext, id: string) => Promise<z.input<S> | null>;
  operationId?: string;
  summary?: string;
  description?: string;
}): EntityRead<S, C> {
  checkSegment('collection', definition.collection);
  if (RESERVED.has(definition.collection)) throw new Error(`collection ${definition.collection} is one of oncely's own routes`);
  const operationId = definition.operationId ?? `get${pascal(definition.name)}`;
  if (!OPERATION_ID.test(operationId)) throw new Error(`operationId ${JSON.stringify(operationId)} must be letters and digits`);
  return {
    kind: 'entity',
    collection: definition.collection,
    name: definition.name,
    operationId,
    summary: definition.summary ?? `Read ${article(definition.name)} ${definition.name}`,
    description: definition.description ?? `The ${definition.name}.`,
    schema: definition.schema,
    read: definition.read,
  };
}

/**
 * Declares a paged sub-resource `GET /v1/{collection}/{id}/{path}?limit=&cursor=`.
 *
 * @example
 * const ledgerRead = pageRead({
 *   collection: 'accounts',
 *   path: 'ledger',
 *   name: 'account',
 *   operationId: 'getLedger',
 *   summary: "Read an account's ledger",
 *   description: 'A page of ledger entries.',
 *   schema: pageSchema(LedgerEntrySchema, { id: 'LedgerPage' }),
 *   limit: { max: 1000, fallback: 100 },
 *   read: (ctx, id, page) => readLedger(ctx, id, page),
 * });
 */
export function pageRead<S extends z.ZodType>(definition: {
  collection: string;
  path: string;
  name: string;
  operationId: string;
  summary: string;
  description: string;
  schema: S;
  limit: { max: number; fallback: number };
  read: (ctx: ReadContext, id: string, page: PageRequest) => Promise<z.input<S> | null>;
}): PageRead<S> {
  checkSegment('collection', definition.collection);
  if (RESERVED.has(definition.collection)) throw new Error(`collection ${definition.collection} is one of oncely's own routes`);
  checkSegment('path', definition.path);
  if (!OPERATION_ID.test(definition.operationId)) throw new Error(`operationId ${JSON.stringify(definition.operationId)} must be letters and digits`);
  const { max, fallback } = definition.limit;
  if (!Number.isSafeInteger(max) || max < 1 || max > 100_000 || !Number.isSafeInteger(fallback) || fallback < 1 || fallback > max) {
    throw new Error(`limit of ${definition.operationId} must have 1 <= fallback <= max <= 100000`);
  }
  return { kind: 'page', ...definition };
}

/**
 * The body of a paged read: `{ items, nextCursor }`, items oldest first; `nextCursor` is null on the last page.
 *
 * @example
 * const LedgerPageSchema = pageSchema(LedgerEntrySchema, { id: 'LedgerPage', description: 'Entries oldest first.' });
 */
export function pageSchema<T extends z.ZodType>(item: T, meta: { id: string; description?: string }) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta(meta);
}

/**
 * An entity's `version` in a response schema: bumped by every change, and its ETag.
 *
 * @example
 * const TicketSchema = z.object({ id: z.string(), version: EntityVersion }).meta({ id: 'Ticket' });
 */
export const EntityVersion = z.number().int().min(1).describe('Bumped by every change; also the ETag.');

/**
 * A timestamp in a response schema (ISO 8601, as the reads format `Date`s).
 *
 * @example
 * const TicketSchema = z.object({ id: z.string(), createdAt: Timestamp, version: EntityVersion });
 */
export const Timestamp = z.iso.datetime();

/**
 * The fields every entity row shows on the wire, as a shape to spread into a response schema: its `version`
 * (the ETag) and when it was created and last changed.
 *
 * @example
 * const TicketSchema = z.object({ id: z.string(), seat: z.string(), ...EntityStamps }).meta({ id: 'Ticket' });
 */
export const EntityStamps = { version: EntityVersion, createdAt: Timestamp, updatedAt: Timestamp };

/**
 * Declares a domain: one module that holds its command types, tables, row descriptors and reads. Checks
 * what it can on its own (names, one read per route); `checkDomains` checks a set of them together.
 *
 * @example
 * export const ticketsDomain = defineDomain({
 *   name: 'tickets',
 *   commands: [openTicket, closeTicket],
 *   tables: { tickets },
 *   rows: [ticketRows],
 *   reads: [ticketRead],
 * });
 */
export function defineDomain<const C extends readonly AnyCommandDefinition[], const R extends readonly AnyRead[]>(definition: {
  name: string;
  commands: C;
  tables: Readonly<Record<string, PgTable>>;
  rows?: readonly AnyRows[];
  reads: R;
  /** A folder (path or file URL) of the domain's migrations: `new URL('../migrations', import.meta.url)`. */
  migrations?: string | URL;
}): Domain<C, R> {
  checkSegment('domain name', definition.name);
  const domain: Domain<C, R> = {
    name: definition.name,
    commands: definition.commands,
    tables: definition.tables,
    rows: definition.rows ?? [],
    reads: definition.reads,
    ...(definition.migrations === undefined ? {} : { migrations: definition.migrations }),
  };
  checkDomains([domain]);
  return domain;
}

/**
 * The route a read serves, with `{id}` for the entity id.
 *
 * @example
 * routeOf(ledgerRead); // '/v1/accounts/{id}/ledger'
 */
export function routeOf(read: AnyRead): string {
  return read.kind === 'entity' ? `/v1/${read.collection}/{id}` : `/v1/${read.collection}/{id}/${read.path}`;
}

/**
 * Checks that domains can be served together: unique domain names, command types, routes, operationIds,
 * table names and lock orders (each entity table needs its own place in the one lock order of the
 * domains served together). Throws one error listing every clash, naming both sides of each.
 *
 * @example
 * checkDomains([...referenceDomains, ticketsDomain]);
 */
export function checkDomains(domains: readonly Domain[]): void {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const claim = (key: string, owner: string) => {
    const holder = seen.get(key);
    if (holder !== undefined) problems.push(`${key} is declared by both ${holder} and ${owner}`);
    else seen.set(key, owner);
  };
  const lockOrders = new Map<number, string>();
  for (const domain of domains) {
    claim(`domain ${domain.name}`, `domain ${domain.name}`);
    for (const command of domain.commands) claim(`command type ${command.type}`, domain.name);
    for (const read of domain.reads) {
      claim(`route GET ${routeOf(read)}`, domain.name);
      claim(`operationId ${read.operationId}`, domain.name);
    }
    for (const rows of domain.rows) {
      claim(`table ${rows.name}`, domain.name);
      if (rows.kind !== 'entity') continue;
      const holder = lockOrders.get(rows.lockOrder);
      const owner = `table ${rows.name} of domain ${domain.name}`;
      if (holder === undefined) lockOrders.set(rows.lockOrder, owner);
      else problems.push(`lockOrder ${rows.lockOrder} is claimed by both ${holder} and ${owner}: give each entity table its own lockOrder`);
    }
  }
  if (problems.length > 0) throw new Error(`domains clash: ${problems.join('; ')}`);
}

/**
 * The domains an oncely serves, checked together: at least one, and none clashing (see `checkDomains`).
 *
 * @example
 * const domains = requireDomains(options.domains, 'createOncely');
 */
export function requireDomains(domains: readonly Domain[] | undefined, caller: string): readonly Domain[] {
  if (domains === undefined || domains.length === 0) {
    throw new Error(
      `${caller} needs the domains to serve: ${caller}({ ..., domains: [myDomain] }). oncely serves none of its own; its reference domains are opt-in (referenceDomains, exported by oncely/reference)`,
    );
  }
  checkDomains(domains);
  return domains;
}

/**
 * Every command type of the given domains, for `createRegistry`.
 *
 * @example
 * const registry = createRegistry(commandsOf([...referenceDomains, ticketsDomain]));
 */
export function commandsOf(domains: readonly Domain[]): AnyCommandDefinition[] {
  return domains.flatMap((domain) => [...domain.commands]);
}

/**
 * Command type -> payload (as sent) of a list of domains, for the typed client:
 * `createClient<CommandMapOfDomains<typeof domains>>(...)`. Precise when each command's `type` is a literal.
 *
 * @example
 * type Commands = CommandMapOfDomains<[typeof ticketsDomain]>; // { 'ticket.open': { title: string }, ... }
 */
export type CommandMapOfDomains<D extends readonly Domain[]> = {
  [K in D[number]['commands'][number] as K['type']]: z.input<K['payload']>;
};

/**
 * Collection -> entity of a list of domains, for the typed client's `read(collection, id)`.
 *
 * @example
 * type Entities = EntityMapOf<[typeof ticketsDomain]>; // { tickets: { id: string; status: ...; version: number } }
 */
export type EntityMapOf<D extends readonly Domain[]> = {
  [K in Extract<D[number]['reads'][number], { kind: 'entity' }> as K['collection']]: z.output<K['schema']>;
};
