// The typed client of the reference domains (accounts with a ledger, orders, red packets), for the demo and
// the teaching material: `createReferenceClient` of `oncely/reference`. The client of `oncely/client` knows
// no domain; this one adds the reference domains' command map, entity schemas and named reads.
import { AccountSchema, LedgerPageSchema, type AccountView as Account, type LedgerPage } from '../domains/accounts/schemas.ts';
import { OrderSchema, type OrderView as Order } from '../domains/orders/schemas.ts';
import { RedPacketSchema, type RedPacketView as RedPacket } from '../domains/red-packets/schemas.ts';
import { createClient, type Client, type ClientOptions, type CommandMap, type EntityMap } from './index.ts';

export type { Account, LedgerPage, Order, RedPacket };

/**
 * The reference domains' entities, as `client.read` returns them.
 *
 * @example
 * const order: ReferenceEntities['orders'] | null = await oncely.read('orders', 'o1');
 */
export interface ReferenceEntities {
  accounts: Account;
  orders: Order;
  'red-packets': RedPacket;
}

/** A client of a server that serves the reference domains: the generic client plus their named reads. */
export interface ReferenceClient extends Client<CommandMap, ReferenceEntities & EntityMap> {
  account(id: string): Promise<Account | null>;
  ledger(id: string, page?: { limit?: number; cursor?: string }): Promise<LedgerPage | null>;
  order(id: string): Promise<Order | null>;
  redPacket(id: string): Promise<RedPacket | null>;
}

const referenceReads = [
  { reads: [{ kind: 'entity', collection: 'accounts', schema: AccountSchema }] },
  { reads: [{ kind: 'entity', collection: 'orders', schema: OrderSchema }] },
  { reads: [{ kind: 'entity', collection: 'red-packets', schema: RedPacketSchema }] },
] as unknown as NonNullable<ClientOptions['domains']>;

/**
 * Creates a client for an oncely that serves the reference domains (`npm start`).
 *
 * @example
 * const oncely = createReferenceClient({ baseUrl: 'http://127.0.0.1:3000' });
 * await oncely.submit({ id: 'open-1', type: 'account.open', entityId: 'acc-1', payload: { currency: 'CNY' } });
 * const account = await oncely.account('acc-1'); // { id, currency, balance, version, ... } | null
 */
export function createReferenceClient(options: ClientOptions): ReferenceClient {
  const client = createClient<CommandMap, ReferenceEntities & EntityMap>({ ...options, domains: [...referenceReads, ...(options.domains ?? [])] });
  return {
    ...client,
    account: (id) => client.read('accounts', id),
    ledger: (id, page) => client.page('accounts', id, 'ledger', LedgerPageSchema, page),
    order: (id) => client.read('orders', id),
    redPacket: (id) => client.read('red-packets', id),
  };
}
