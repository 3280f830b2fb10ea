// The rules, as pure decisions over plain values: no database, tested as tables.
import { accept, refuse, type Decision } from 'oncely';

export interface StockItem {
  id: string;
  onHand: number;
  reserved: number;
  version: number;
}

export const RESERVATION_STATUSES = ['RESERVED', 'RELEASED'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

export interface Reservation {
  id: string;
  orderId: string;
  sku: string;
  quantity: number;
  status: ReservationStatus;
  version: number;
}

export const ORDER_STATUSES = ['PLACED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface ShopOrder {
  id: string;
  sku: string;
  quantity: number;
  status: OrderStatus;
  version: number;
}

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
