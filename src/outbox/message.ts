// What goes on the wire: a command envelope (CONTRACT section 2), so another oncely's inbox can take an
// event as a command, and the event's provenance beside it as headers.
import type { OutboundMessage } from '../brokers/publisher.ts';
import type { EventRow } from '../db/outbox-sql.ts';

export type { OutboundMessage };

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
