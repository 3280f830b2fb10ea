// What goes on the wire: a command envelope (CONTRACT section 2), so another oncely's inbox can take an
// event as a command, and the event's provenance beside it as headers.
import type { EventRow } from '../db/outbox-sql.ts';

/** One event as every publisher sends it. */
export interface OutboundMessage {
  /** The event id: the broker's message id, and the envelope's id (the consumer's idempotency key). */
  id: string;
  /** The type on the wire (after RELAY_TYPE_MAP): the envelope's type and the routing key / subject. */
  type: string;
  /** The envelope `{ id, type, entityId, payload }` as JSON, with no other key. */
  body: string;
  /** Provenance: source command, client, position, sequence, stored-at, the event's own type. */
  headers: Record<string, string>;
}

/**
 * The message for an event, its type renamed by `typeMap` when listed.
 *
 * @example
 * const message = toMessage(row, new Map([['account.credited', 'ledger.record']]));
 */
export function toMessage(event: EventRow, typeMap: ReadonlyMap<string, string>): OutboundMessage {
  const type = typeMap.get(event.type) ?? event.type;
  return {
    id: event.id,
    type,
    body: JSON.stringify({
      id: event.id,
      type,
      entityId: event.entity_id,
      payload: event.payload,
    }),
    headers: {
      'oncely-event-type': event.type,
      'oncely-command-id': event.command_id,
      'oncely-client-id': event.client_id,
      'oncely-position': String(event.position),
      'oncely-sequence': String(event.sequence),
      'oncely-created-at': new Date(event.created_at).toISOString(),
    },
  };
}
