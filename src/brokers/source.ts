// What a broker's inbox source gives the inbox (src/inbox/): deliveries it can settle. Each broker implements it
// in src/brokers/<name>/inbox.ts; the one delivery handler (src/inbox/inbox.ts) knows nothing of brokers.
import type { IntakeReason } from '../processor/intake.ts';
import type { BrokerName } from './registry.ts';

/** A source is named after its broker. */
export type SourceName = BrokerName;

/**
 * Why a delivery went to the dead-letter path: an intake reason, a body over the size limit, a key reused for
 * another command, a poison message, or one whose storing failed for a reason that is not transient.
 */
export type DeadLetterReason = IntakeReason | 'payload_too_large' | 'idempotency_key_reused' | 'too_many_deliveries' | 'unstorable';

/** The largest body taken, as over HTTP: a larger one is dead-lettered unread. */
export const MAX_BODY_BYTES = 256 * 1024;

export interface DeadLetterProblem {
  reason: DeadLetterReason;
  /** For a human; never the payload. */
  detail: string;
}

/** One message as a broker delivered it, with the broker's ways to settle it. */
export interface Delivery {
  /** The envelope as sent (JSON), or undefined when the message has no body where the source expects one. */
  body: Uint8Array | string | undefined;
  /** Set when the source left a body too large to hold unread (Redis): its size in bytes, `body` then empty. */
  unreadBytes?: number;
  /** The id the broker carries beside the body (AMQP message_id, Nats-Msg-Id, the entry's `id` field). */
  key: string | undefined;
  /** Where `key` came from, for humans (`AMQP message_id property`). */
  keyName: string;
  /** Where `key` came from, as a field path (`message_id`). */
  keyPath: string;
  /**
   * Whether this delivery can still be settled: false once the channel or connection it came on was replaced
   * (the broker redelivers it, and an ack on the new channel would name another message).
   */
  live(): boolean;
  /** Acknowledges it: the broker forgets it. */
  ack(): Promise<void>;
  /** Stores it on the broker's dead-letter path with the problem attached, then acknowledges the original. */
  deadLetter(problem: DeadLetterProblem): Promise<void>;
}

/** A broker consumer: connects, reconnects by itself, and hands every delivery to `handle`. */
export interface InboxSource {
  readonly name: SourceName;
  /** The client the commands are stored under, so one id on two sources never collides. */
  readonly clientId: string;
  /** Starts consuming in the background; connection failures are retried with capped backoff until stop. */
  start(handle: (delivery: Delivery) => Promise<void>): void;
  /** Stops taking deliveries, lets the ones in hand finish, and closes the connection. */
  stop(): Promise<void>;
}
