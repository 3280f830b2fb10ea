import { hash } from 'node:crypto';

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
  // The one-shot hash: the same digest as createHash().update().digest(), without a Hash object per event.
  return 'evt_' + hash('sha256', `${clientId}\u0000${commandId}\u0000${position}`, 'hex').slice(0, 32);
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

/** Below this depth a payload is copied by hand; a deeper (or cyclic) one is structuredClone's. */
const COPY_DEPTH = 32;

/** What `copy` returns for a value it leaves to structuredClone. */
const NOT_PLAIN = Symbol('not plain');

/**
 * A copy of an emitted payload, so a decision that reuses its object after emitting cannot change what is
 * stored: structuredClone's copy, made by hand when the payload is plain JSON-like data (objects, arrays,
 * primitives), since structuredClone costs about 2 µs even for a small payload, per event of a batch. A
 * payload holding anything else (a Date, a Map, a class instance, a function, a sparse array, a cycle) is
 * structuredClone's whole, copied or refused as it always was.
 *
 * @example
 * drafts.push({ type: event.type, entityId: event.entityId, payload: copyPayload(event.payload) });
 */
export function copyPayload<T>(payload: T): T {
  const copied = copy(payload, 0);
  return (copied === NOT_PLAIN ? structuredClone(payload) : copied) as T;
}

function copy(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return typeof value === 'function' || typeof value === 'symbol' ? NOT_PLAIN : value;
  if (depth >= COPY_DEPTH) return NOT_PLAIN;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Array.prototype) {
    const array = value as unknown[];
    const out: unknown[] = [];
    for (let i = 0; i < array.length; i++) {
      if (!(i in array)) return NOT_PLAIN;
      const element = copy(array[i], depth + 1);
      if (element === NOT_PLAIN) return NOT_PLAIN;
      out.push(element);
    }
    return out;
  }
  if (prototype !== Object.prototype) return NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    // Assigning `__proto__` would set the copy's prototype, not a property of that name.
    if (key === '__proto__') return NOT_PLAIN;
    const property = copy((value as Record<string, unknown>)[key], depth + 1);
    if (property === NOT_PLAIN) return NOT_PLAIN;
    out[key] = property;
  }
  return out;
}
