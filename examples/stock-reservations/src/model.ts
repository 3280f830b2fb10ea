// The rules, as pure decisions over plain values: no database, tested as tables. The values are the
// tables' rows, declared once in src/tables.ts (less the timestamps the database fills).
import { accept, refuse, type Decision, type RowOf } from 'oncely';
import type { reservations, shopOrders, stockItems } from './tables.ts';

export { ORDER_STATUSES, RESERVATION_STATUSES, type OrderStatus, type ReservationStatus } from './tables.ts';

/** `{ id, onHand, reserved, version }` */
export type StockItem = RowOf<typeof stockItems>;
/** `{ id, orderId, sku, quantity, status, version }` */
export type Reservation = RowOf<typeof reservations>;
/** `{ id, sku, quantity, status, version }` */
export type ShopOrder = RowOf<typeof shopOrders>;

export const available = (item: StockItem) => item.onHand - item.reserved;

export function decideReceive(item: StockItem, quantity: number): Decision<StockItem> {
  return accept({ ...item, onHand: item.onHand + quantity });
}

/** Reserving takes units off what is available, or is refused when too few are left. */
export function decideReserve(item: StockItem, quantity: number): Decision<StockItem> {
  if (available(item) < quantity) {
    return refuse('insufficient_stock', `${item.id}: ${available(item)} available, ${quantity} requested`, { available: available(item), requested: quantity });
  }
  return accept({ ...item, reserved: item.reserved + quantity });
}

/** Releasing gives a live reservation's units back; a released one cannot be released again. */
export function decideRelease(reservation: Reservation, item: StockItem): Decision<{ reservation: Reservation; item: StockItem }> {
  if (reservation.status !== 'RESERVED') {
    return refuse('illegal_transition', `reservation ${reservation.id} is ${reservation.status}`, { from: reservation.status, to: 'RELEASED' });
  }
  return accept({ reservation: { ...reservation, status: 'RELEASED' }, item: { ...item, reserved: item.reserved - reservation.quantity } });
}
