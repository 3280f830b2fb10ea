// A domain is one module: this file declares a whole new domain (tickets: a table, a model, two planned
// commands with a lock order, a refusal, an entity read) and serves it beside the reference domains with no
// edit to oncely's source. Everything is driven over HTTP: submission, outcome, the entity with its ETag,
// the OpenAPI document, and the problems for an unknown type or a bad payload.
import { eq } from 'drizzle-orm';
import { bigint, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient } from '../../src/client/index.ts';
import { LedgerPageSchema } from '../../src/domains/accounts/schemas.ts';
import { defineCommand } from '../../src/core/command.ts';
import { defineDomain, entityRead, EntityVersion, Timestamp, type CommandMapOfDomains, type EntityMapOf } from '../../src/core/domain.ts';
import { Amount, Identifier, type CommandStatus } from '../../src/core/envelope.ts';
import { accept, notFound, refuse, succeeded, type Decision } from '../../src/core/outcome.ts';
import { rowKey, type RowOf } from '../../src/core/table.ts';
import { debit, type Account } from '../../src/domains/accounts/model.ts';
import { accountRows, postToAccount } from '../../src/domains/accounts/rows.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { entityTable } from '../../src/processor/descriptors.ts';
import { createEntity, target } from '../../src/processor/entity.ts';
import type { System } from '../../src/system.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { startTestSystem, waitForTerminal } from '../helpers/system.ts';

// ---- the tickets domain, as an application would write it ----

const TICKET_STATUSES = ['OPEN', 'CLOSED'] as const;
type TicketStatus = (typeof TICKET_STATUSES)[number];

/** Buying a ticket debits its price from the account, or nothing happens. */
function decideBuy(account: Account, ticket: Omit<Ticket, 'version'>): Decision<{ account: Account; ticket: Omit<Ticket, 'version'> }> {
  const debited = debit(account, ticket.price);
  return debited.ok ? accept({ account: debited.state, ticket }) : debited;
}

function decideClose(ticket: Ticket): Decision<Ticket> {
  if (ticket.status !== 'OPEN') return refuse('illegal_transition', `${ticket.id} is ${ticket.status} and cannot become CLOSED`, { from: ticket.status, to: 'CLOSED' });
  return accept({ ...ticket, status: 'CLOSED' });
}

// The application's own migration; oncely's migrations know nothing of it.
const TICKETS_DDL = `CREATE TABLE tickets (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES accounts (id),
  title text NOT NULL,
  price bigint NOT NULL CHECK (price > 0),
  status text NOT NULL CHECK (status IN (${TICKET_STATUSES.map((s) => `'${s}'`).join(', ')})),
  version integer NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
)`;

const tickets = pgTable('tickets', {
  id: text('id').primaryKey(),
  accountId: text('account_id').notNull(),
  title: text('title').notNull(),
  price: bigint('price', { mode: 'number' }).notNull(),
  status: text('status').$type<TicketStatus>().notNull(),
  version: integer('version').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});

/** Tickets are locked first (lock order 5): a ticket names the account it is paid from, which comes later (30). */
const ticketRows = entityTable(tickets, { lockOrder: 5 });
/** The ticket as decisions see it, declared once: its table's row. */
type Ticket = RowOf<typeof ticketRows>;
const ticket = { table: ticketRows, name: 'ticket' };

const view = (saved: Ticket) => ({ status: saved.status, version: saved.version });

const buyTicket = defineCommand({
  type: 'ticket.buy',
  summary: 'Buy a ticket (entityId is the new ticket id), paying its price from an account.',
  payload: z.strictObject({ accountId: Identifier, title: z.string().min(1).max(200), price: Amount }),
  plan: (command) => ({ lock: [rowKey(ticketRows, command.entityId), rowKey(accountRows, command.payload.accountId)] }),
  decide(command, state) {
    const { accountId, title, price } = command.payload;
    const account = state.get(accountRows, accountId);
    if (!account) return notFound('account', accountId);
    const created = createEntity(state, ticket, command, () => {
      const decision = decideBuy(account, { id: command.entityId, accountId, title, price, status: 'OPEN' });
      if (!decision.ok) return decision;
      postToAccount(state, command, account, decision.state.account);
      return accept(decision.state.ticket);
    });
    return created.ok ? succeeded(view(created.row)) : created.outcome;
  },
});

const closeTicket = defineCommand({
  type: 'ticket.close',
  summary: 'OPEN -> CLOSED.',
  payload: z.strictObject({}),
  plan: (command) => ({ lock: [rowKey(ticketRows, command.entityId)] }),
  decide(command, state) {
    const found = target(state, ticket, command);
    if (!found.ok) return found.outcome;
    const decision = decideClose(found.row);
    return decision.ok ? succeeded(view(state.update(ticketRows, decision.state))) : decision.outcome;
  },
});

const TicketSchema = z
  .object({
    id: z.string(),
    accountId: z.string(),
    title: z.string(),
    price: z.number().int(),
    status: z.enum(TICKET_STATUSES),
    version: EntityVersion,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Ticket', description: 'A ticket, paid from an account.' });

const ticketsDomain = defineDomain({
  name: 'tickets',
  commands: [buyTicket, closeTicket],
  tables: { tickets },
  rows: [ticketRows],
  reads: [
    entityRead({
      collection: 'tickets',
      name: 'ticket',
      schema: TicketSchema,
      read: async ({ db }, id) => {
        const [row] = await db.select().from(tickets).where(eq(tickets.id, id));
        return row ? { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() } : null;
      },
    }),
  ],
});

const domains = [...referenceDomains, ticketsDomain] as const;

// ---- the system, serving it ----

const db = useTestDatabase();
let system: System;

beforeAll(async () => {
  await db.pool.query(TICKETS_DDL);
  system = await startTestSystem(db.url, { domains });
});

const request = (path: string, init: RequestInit = {}) => Promise.resolve(system.app!.request(path, init));
const oncely = createClient<CommandMapOfDomains<typeof domains>, EntityMapOf<typeof domains>>({
  baseUrl: 'http://oncely.test',
  fetch: (url, init) => request(url, init),
  domains: [ticketsDomain],
});

async function submit(body: Record<string, unknown>): Promise<{ res: Response; body: Record<string, unknown> }> {
  const res = await request('/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

async function run(body: Record<string, unknown>): Promise<CommandStatus> {
  const { res } = await submit(body);
  expect(res.status).toBe(202);
  return waitForTerminal(db.pool, body['id'] as string, 15_000);
}

describe('a domain declared outside oncely', () => {
  it('applies its commands through the processor, with its lock order, its refusals and the reference domains beside it', async () => {
    expect((await run({ id: 'open-a', type: 'account.open', entityId: 'a' })).status).toBe('succeeded');
    expect((await run({ id: 'credit-a', type: 'account.credit', entityId: 'a', payload: { amount: 500 } })).status).toBe('succeeded');

    const bought = await run({ id: 'buy-t1', type: 'ticket.buy', entityId: 't1', payload: { accountId: 'a', title: 'Concert', price: 300 } });
    expect(bought).toMatchObject({ status: 'succeeded', result: { status: 'OPEN', version: 1 } });
    // The same decision moved the money: one ledger row, the account's new balance.
    expect((await oncely.read('accounts', 'a'))?.balance).toBe(200);
    expect((await oncely.page('accounts', 'a', 'ledger', LedgerPageSchema))?.items.map((entry) => entry.amount)).toEqual([500, -300]);

    const tooDear = await run({ id: 'buy-t2', type: 'ticket.buy', entityId: 't2', payload: { accountId: 'a', title: 'Opera', price: 300 } });
    expect(tooDear).toMatchObject({ status: 'rejected', error: { code: 'insufficient_funds' } });
    expect(await oncely.read('tickets', 't2')).toBeNull();
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM tickets`)).rows[0]).toEqual({ n: 1 });

    expect(await run({ id: 'close-t1', type: 'ticket.close', entityId: 't1' })).toMatchObject({ status: 'succeeded', result: { status: 'CLOSED', version: 2 } });
    const again = await run({ id: 'close-t1-again', type: 'ticket.close', entityId: 't1' });
    expect(again).toMatchObject({ status: 'rejected', error: { code: 'illegal_transition', details: { from: 'CLOSED', to: 'CLOSED' } } });
    expect(await run({ id: 'close-none', type: 'ticket.close', entityId: 'none' })).toMatchObject({ status: 'rejected', error: { code: 'not_found' } });
  });

  it('serves its entity with its version as the ETag, 304 for If-None-Match, 404 for an unknown id', async () => {
    const res = await request('/v1/tickets/t1');
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"2"');
    const body = await res.json();
    expect(body).toEqual({
      id: 't1',
      accountId: 'a',
      title: 'Concert',
      price: 300,
      status: 'CLOSED',
      version: 2,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });

    const unchanged = await request('/v1/tickets/t1', { headers: { 'if-none-match': '"2"' } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get('etag')).toBe('"2"');
    expect((await request('/v1/tickets/t1', { headers: { 'if-none-match': '"1"' } })).status).toBe(200);

    const missing = await request('/v1/tickets/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'not_found', detail: 'no ticket with this id' });

    // The typed client reads it too, parsed with the domain's own schema.
    const read = await oncely.read('tickets', 't1');
    expect(read?.status).toBe('CLOSED');
  });

  it('makes a command conditional on the ETag it read (If-Match -> expectedVersion)', async () => {
    expect((await run({ id: 'buy-t3', type: 'ticket.buy', entityId: 't3', payload: { accountId: 'a', title: 'Film', price: 50 } })).status).toBe('succeeded');
    const etag = (await request('/v1/tickets/t3')).headers.get('etag')!;
    const stale = await request('/v1/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'if-match': '"7"', prefer: 'wait=10' },
      body: JSON.stringify({ id: 'close-t3-stale', type: 'ticket.close', entityId: 't3' }),
    });
    expect(((await stale.json()) as CommandStatus).status).toBe('conflict');
    const fresh = await request('/v1/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'if-match': etag, prefer: 'wait=10' },
      body: JSON.stringify({ id: 'close-t3', type: 'ticket.close', entityId: 't3' }),
    });
    expect(((await fresh.json()) as CommandStatus).status).toBe('succeeded');
  });

  it('answers unknown_command_type and invalid_payload for its submissions, listing its types', async () => {
    const unknown = await submit({ id: 'x1', type: 'ticket.refund', entityId: 't1' });
    expect(unknown.res.status).toBe(400);
    expect(unknown.body).toMatchObject({ code: 'unknown_command_type' });
    expect(unknown.body['knownTypes']).toEqual(expect.arrayContaining(['ticket.buy', 'ticket.close', 'account.open']));

    const invalid = await submit({ id: 'x2', type: 'ticket.buy', entityId: 't9', payload: { accountId: 'a', title: '', price: 1.5, extra: true } });
    expect(invalid.res.status).toBe(400);
    expect(invalid.body).toMatchObject({ code: 'invalid_payload' });
    const paths = (invalid.body['errors'] as { path: string }[]).map((error) => error.path);
    expect(paths).toEqual(expect.arrayContaining(['payload.title', 'payload.price']));
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM oncely.commands WHERE id IN ('x1', 'x2')`)).rows[0]).toEqual({ n: 0 });
  });

  it('documents its route, its schema and its command types in /openapi.json, beside the reference ones', async () => {
    const document = (await (await request('/openapi.json')).json()) as {
      paths: Record<string, { get?: { operationId: string; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> } }>;
      components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
    };
    const get = document.paths['/v1/tickets/{id}']?.get;
    expect(get?.operationId).toBe('getTicket');
    expect(get?.responses['200']?.content?.['application/json']?.schema.$ref).toBe('#/components/schemas/Ticket');
    expect(Object.keys(get?.responses ?? {})).toEqual(expect.arrayContaining(['200', '304', '404']));
    expect(document.components.schemas['Ticket']?.properties?.['status']?.enum).toEqual([...TICKET_STATUSES]);
    for (const path of ['/v1/accounts/{id}', '/v1/accounts/{id}/ledger', '/v1/orders/{id}', '/v1/red-packets/{id}']) expect(document.paths[path], path).toBeDefined();
    const text = JSON.stringify(document);
    expect(text).toContain('"ticket.buy"');
    expect(text).toContain('"ticket.close"');
  });

  it('counts its command types by name in /metrics', async () => {
    const metrics = await (await request('/metrics')).text();
    expect(metrics).toMatch(/oncely_commands_submitted_total\{[^}]*type="ticket\.buy"[^}]*\} [1-9]/);
  });

  it('refuses a domain that clashes with another (a taken route, command type or lock order)', () => {
    expect(() =>
      defineDomain({
        name: 'clash',
        commands: [],
        tables: {},
        reads: [entityRead({ collection: 'commands', name: 'command', schema: TicketSchema, read: () => Promise.resolve(null) })],
      }),
    ).toThrow(/oncely's own routes/);
    const twin = defineDomain({ name: 'twin', commands: [closeTicket], tables: {}, reads: [] });
    return expect(startTestSystem(db.url, { roles: { api: true, worker: false }, domains: [...domains, twin] })).rejects.toThrow(
      /command type ticket\.close is declared by both tickets and twin/,
    );
  });
});
