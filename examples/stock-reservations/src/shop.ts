// The shop's own HTTP API. Placing an order writes the order row AND submits its stock.reserve command in
// one transaction of the shop's: both commit, or neither does. oncely's own API (commands, reads, OpenAPI)
// is served behind it.
import { Hono } from 'hono';
import { and, eq } from 'drizzle-orm';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { CommandRefusedError, submit, type Oncely, type Submission } from 'oncely';
import { z } from 'zod';
import { shopOrders } from './tables.ts';

const OrderRequest = z.strictObject({
  orderId: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/),
  sku: z.string(),
  // The shop leaves the quantity's rules to the stock.reserve command's schema: submit() refuses a bad one.
  quantity: z.number(),
});
export type OrderRequest = z.infer<typeof OrderRequest>;

/** The transaction drizzle's `db.transaction()` hands its callback: a query builder on one connection. */
export type ShopTransaction = Parameters<Parameters<NodePgDatabase['transaction']>[0]>[0];

/** Ids derived from the order: a retried request submits the same commands, which oncely absorbs. */
export const reservationIdOf = (orderId: string) => `res-${orderId}`;

/**
 * Inserts the order (unless a retry already did) and submits its reservation, in the caller's transaction.
 *
 * @example
 * await db.transaction((tx) => placeOrder(tx, { orderId: 'o-1', sku: 'apple', quantity: 3 }));
 */
export async function placeOrder(tx: ShopTransaction, order: OrderRequest): Promise<Submission> {
  await tx.insert(shopOrders).values({ id: order.orderId, sku: order.sku, quantity: order.quantity, status: 'PLACED', version: 1 }).onConflictDoNothing();
  const [reserve] = await submit(tx, [
    {
      id: `${order.orderId}-reserve`,
      type: 'stock.reserve',
      entityId: reservationIdOf(order.orderId),
      payload: { orderId: order.orderId, sku: order.sku, quantity: order.quantity },
    },
  ]);
  return reserve!;
}

/** Cancels a placed order and submits the release of its reservation, in the caller's transaction. */
export async function cancelOrder(tx: ShopTransaction, orderId: string): Promise<Submission | null> {
  await tx
    .update(shopOrders)
    .set({ status: 'CANCELLED', updatedAt: new Date() })
    .where(and(eq(shopOrders.id, orderId), eq(shopOrders.status, 'PLACED')));
  const [order] = await tx.select({ id: shopOrders.id }).from(shopOrders).where(eq(shopOrders.id, orderId));
  if (!order) return null;
  // A retried cancel (already CANCELLED) submits the same release again, which oncely answers as a duplicate.
  const [released] = await submit(tx, [{ id: `${orderId}-release`, type: 'stock.release', entityId: reservationIdOf(orderId), payload: {} }]);
  return released!;
}

/** Every problem the shop answers, as RFC 9457 problem details like oncely's own API: a refused command keeps oncely's code. */
const SHOP_PROBLEMS: Record<CommandRefusedError['reason'] | 'not_found' | 'internal_error', { status: number; title: string }> = {
  invalid_request: { status: 400, title: 'Invalid request' },
  idempotency_key_missing: { status: 400, title: 'Idempotency key missing' },
  idempotency_key_mismatch: { status: 400, title: 'Idempotency key mismatch' },
  unknown_command_type: { status: 400, title: 'Unknown command type' },
  invalid_payload: { status: 400, title: 'Invalid payload' },
  version_mismatch: { status: 400, title: 'If-Match and expectedVersion disagree' },
  not_found: { status: 404, title: 'Not found' },
  internal_error: { status: 500, title: 'Internal error' },
};

/** An `application/problem+json` response: `type`, `title`, `status`, `detail`, a stable `code`, and extensions. */
function problem(code: keyof typeof SHOP_PROBLEMS, detail: string, extra: Record<string, unknown> = {}): Response {
  const { status, title } = SHOP_PROBLEMS[code];
  const body = { type: `https://oncely.dev/problems/${code.replaceAll('_', '-')}`, title, status, detail, code, ...extra };
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json' } });
}

/**
 * The shop's app: `POST /shop/orders`, `POST /shop/orders/{id}/cancel`, and everything else to oncely's API.
 *
 * @example
 * serve({ fetch: createShop({ db, oncely }).fetch, port: 3000 });
 */
export function createShop(deps: { db: NodePgDatabase; oncely: Oncely }): Hono {
  const app = new Hono();
  app.post('/shop/orders', async (c) => {
    const parsed = OrderRequest.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      return problem('invalid_request', 'the order is not valid JSON of the expected shape', { errors });
    }
    try {
      const reserve = await deps.db.transaction((tx) => placeOrder(tx, parsed.data));
      return c.json({ orderId: parsed.data.orderId, reserve: { outcome: reserve.outcome, status: reserve.status } }, reserve.outcome === 'accepted' ? 201 : 200);
    } catch (err) {
      // The transaction rolled back: neither the order nor its command exists.
      if (err instanceof CommandRefusedError) return problem(err.reason, err.detail, err.errors.length > 0 ? { errors: err.errors } : {});
      throw err;
    }
  });
  app.post('/shop/orders/:id/cancel', async (c) => {
    const released = await deps.db.transaction((tx) => cancelOrder(tx, c.req.param('id')));
    if (!released) return problem('not_found', 'no order with this id');
    return c.json({ orderId: c.req.param('id'), release: { outcome: released.outcome, status: released.status } }, released.outcome === 'accepted' ? 202 : 200);
  });
  // oncely's API: /v1/commands, /v1/stock-items/{id}, /v1/reservations/{id}, /openapi.json, /health/*.
  app.all('*', (c) => deps.oncely.app.fetch(c.req.raw));
  // An unexpected error: a problem without the error's details, which go to the log only.
  app.onError((err) => {
    console.error(err);
    return problem('internal_error', 'the shop could not handle this request');
  });
  return app;
}
