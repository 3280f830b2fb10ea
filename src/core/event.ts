import { createHash } from 'node:crypto';

/**
 * An event a decision emits about an entity it changed. It is stored with the effect, in the same
 * transaction, and published by the outbox relay (docs/outbox.md). `type` and `entityId` follow the
 * envelope's rules (CONTRACT section 2), so another oncely's inbox can take the event as a command.
 */
export interface EventDraft {
  type: string;
  /** The entity the event is about; its events are published in the order they were stored. */
  entityId: string;
  /** Plain JSON; money in integer minor units. */
  payload: Record<string, unknown>;
}

/** An event as stored: the draft plus where it came from. */
export interface StoredEvent extends EventDraft {
  /** 'evt_' + 32 hex characters, derived from (clientId, commandId, position): see eventId. */
  id: string;
  clientId: string;
  commandId: string;
  /** The event's place among its command's events, from 0. */
  position: number;
}

/**
 * The event's id: a hash of the command's identity and the event's position in it, so a command applied
 * again (after a rolled-back attempt) names its events exactly as before, and a publisher that repeats a
 * message repeats its id.
 *
 * @example
 * eventId('anonymous', 'transfer-1', 0) // 'evt_…' (32 hex), the same on every call
 */
export function eventId(clientId: string, commandId: string, position: number): string {
  return 'evt_' + createHash('sha256').update(`${clientId}\u0000${commandId}\u0000${position}`).digest('hex').slice(0, 32);
}

/**
 * The events of one succeeded command, with ids and positions.
 *
 * @example
 * storedEvents({ clientId: 'anonymous', id: 'c1' }, [{ type: 'account.credited', entityId: 'acc-1', payload: { amount: 5 } }])
 */
export function storedEvents(command: { clientId: string; id: string }, drafts: readonly EventDraft[]): StoredEvent[] {
  return drafts.map((draft, position) => ({
    ...draft,
    id: eventId(command.clientId, command.id, position),
    clientId: command.clientId,
    commandId: command.id,
    position,
  }));
}
