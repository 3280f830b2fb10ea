// The stock domain: three command types applied by oncely's processor, two entity reads, one value.
import { eq } from 'drizzle-orm';
import {
  accept,
  changeEntity,
  createEntity,
  defineCommand,
  defineDomain,
  entityRead,
  entityTable,
  EntityVersion,
  Identifier,
  lookup,
  notFound,
  refuse,
  rejected,
  rowKey,
  succeeded,
  target,
  Timestamp,
} from 'oncely';
import { z } from 'zod';
import { available, decideReceive, decideRelease, decideReserve, RESERVATION_STATUSES, type Reservation, type StockItem } from './model.ts';
import { reservations, shopOrders, stockItems } from './tables.ts';

// The row descriptors, derived from the drizzle tables. The lock order: a table whose rows name rows of
// another comes first. A reservation names its order and its stock item, so reservations (110) < shop
// orders (120) < stock items (130).
export const reservationRows = entityTable(reservations, { lockOrder: 110 });
export const orderRows = entityTable(shopOrders, { lockOrder: 120 });
export const stockRows = entityTable(stockItems, { lockOrder: 130 });

const stockItem = { table: stockRows, name: 'stock item' };
const reservation = { table: reservationRows, name: 'reservation' };
const Quantity = z.number().int().min(1).max(1_000_000);

const itemView = (saved: StockItem) => ({ onHand: saved.onHand, reserved: saved.reserved, version: saved.version });
const reservationView = (saved: Reservation) => ({ status: saved.status, version: saved.version });

export const receive = defineCommand({
  type: 'stock.receive',
  summary: 'Units arrive for a SKU (entityId); the stock item is created on its first delivery.',
  payload: z.strictObject({ quantity: Quantity }),
  plan: (command) => ({ lock: [rowKey(stockRows, command.entityId)] }),
  decide(command, state) {
    if (!state.get(stockRows, command.entityId)) {
      const created = createEntity(state, stockItem, command, () => accept({ onHand: command.payload.quantity, reserved: 0 }));
      return created.ok ? succeeded(itemView(created.row)) : created.outcome;
    }
    return changeEntity(state, stockItem, command, (item) => decideReceive(item, command.payload.quantity), itemView);
  },
});

export const reserve = defineCommand({
  type: 'stock.reserve',
  summary: 'Reserves units of a SKU for an order (entityId is the new reservation id); one live reservation per order, refused when short.',
  payload: z.strictObject({ orderId: Identifier, sku: Identifier, quantity: Quantity }),
  // The order's lock serialises every reservation of one order, so its live reservations, read after it, cannot change under us.
  plan: (command) => ({
    lock: [rowKey(reservationRows, command.entityId), rowKey(orderRows, command.payload.orderId), rowKey(stockRows, command.payload.sku)],
    lookups: [lookup(reservationRows, 'orderId', command.payload.orderId)],
  }),
  decide(command, state) {
    const { orderId, sku, quantity } = command.payload;
    const order = state.get(orderRows, orderId);
    if (!order) return notFound('order', orderId);
    if (order.status !== 'PLACED') return rejected('order_not_placed', `order ${orderId} is ${order.status}`, { status: order.status });
    const item = state.get(stockRows, sku);
    if (!item) return notFound('stock item', sku);
    // The reservation is new (entityId); createEntity refuses an existing one. Writes staged here are dropped if it is refused after all.
    const created = createEntity(state, reservation, command, () => {
      const [live] = state.find(reservationRows, (row) => row.orderId === orderId && row.status === 'RESERVED');
      if (live) return refuse('already_reserved', `order ${orderId} already holds reservation ${live.id}`, { reservationId: live.id });
      const decision = decideReserve(item, quantity);
      if (!decision.ok) return decision;
      state.update(stockRows, decision.state);
      return accept({ orderId, sku, quantity, status: 'RESERVED' });
    });
    return created.ok ? succeeded(reservationView(created.row)) : created.outcome;
  },
});

export const release = defineCommand({
  type: 'stock.release',
  summary: "RESERVED -> RELEASED, giving the reservation's units back to its SKU.",
  payload: z.strictObject({}),
  plan: (command) => ({
    lock: [rowKey(reservationRows, command.entityId)],
    // Phase two: the stock item the locked reservation names (a later table).
    then: (state) => {
      const found = state.get(reservationRows, command.entityId);
      return found ? [rowKey(stockRows, found.sku)] : [];
    },
  }),
  decide(command, state) {
    const found = target(state, reservation, command);
    if (!found.ok) return found.outcome;
    const item = state.get(stockRows, found.row.sku);
    if (!item) throw new Error(`reservation ${found.row.id} names missing stock item ${found.row.sku}`);
    const decision = decideRelease(found.row, item);
    if (!decision.ok) return decision.outcome;
    state.update(stockRows, decision.state.item);
    return succeeded(reservationView(state.update(reservationRows, decision.state.reservation)));
  },
});

export const StockItemSchema = z
  .object({ id: z.string(), onHand: z.number().int(), reserved: z.number().int(), available: z.number().int(), version: EntityVersion, updatedAt: Timestamp })
  .meta({ id: 'StockItem', description: 'Units of one SKU: on hand, reserved, available.' });

export const ReservationSchema = z
  .object({
    id: z.string(),
    orderId: z.string(),
    sku: z.string(),
    quantity: z.number().int(),
    status: z.enum(RESERVATION_STATUSES),
    version: EntityVersion,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Reservation' });

export const stockDomain = defineDomain({
  name: 'stock',
  // drizzle-kit's output over src/tables.ts (npm run db:generate).
  migrations: new URL('../migrations', import.meta.url),
  commands: [receive, reserve, release],
  tables: { stockItems, shopOrders, reservations },
  rows: [reservationRows, orderRows, stockRows],
  reads: [
    entityRead({
      collection: 'stock-items',
      name: 'stock item',
      schema: StockItemSchema,
      read: async ({ db }, id) => {
        const [row] = await db.select().from(stockItems).where(eq(stockItems.id, id));
        return row
          ? { id: row.id, onHand: row.onHand, reserved: row.reserved, available: available(row), version: row.version, updatedAt: row.updatedAt.toISOString() }
          : null;
      },
    }),
    entityRead({
      collection: 'reservations',
      name: 'reservation',
      schema: ReservationSchema,
      read: async ({ db }, id) => {
        const [row] = await db.select().from(reservations).where(eq(reservations.id, id));
        return row
          ? { id: row.id, orderId: row.orderId, sku: row.sku, quantity: row.quantity, status: row.status, version: row.version, updatedAt: row.updatedAt.toISOString() }
          : null;
      },
    }),
  ],
});
