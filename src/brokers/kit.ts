// A broker's kit: what the broker tests (test/brokers/), the chaos harness (chaos/brokers.ts) and the benchmarks
// need to drive a broker from outside, the way a producer or an operator would. oncely itself never loads one.
import type { BrokerName } from './registry.ts';

export interface InboxKitOptions {
  /** Part of every name the kit makes (`oncely.<label>.<random>`), so no two runs share a queue or stream. */
  label: string;
  /** A prefetch of 20 and the shortest ack wait and claim time allowed, so a test sees a redelivery in seconds. */
  quick?: boolean;
  /** The inbox connects through a loopback proxy that `cutConnections` resets (NATS has no command to close a client). */
  proxied?: boolean;
}

export interface PublishOptions {
  /** The broker-side id: AMQP message_id, Nats-Msg-Id, the entry's `id` field. */
  key?: string;
  /** RabbitMQ only: the message's expiration (per-message TTL, ms as text). */
  expiration?: string;
}

/** A message read back from the dead-letter path. */
export interface DeadLetter {
  /** The broker-side id it carried, if any. */
  key: string | undefined;
  reason: string | undefined;
  detail: string | undefined;
  body: string;
}

/** A queue or stream of the kit's own, declared as the inbox declares it, so nothing published before an inbox starts is lost. */
export interface InboxKit {
  readonly name: BrokerName;
  /** The INBOX_* variables that point an inbox at this kit's queue or stream. */
  readonly env: Record<string, string>;
  /** The client id the inbox stores this kit's commands under (the default `<broker>:<queue or stream>`). */
  readonly clientId: string;
  /** The RELAY_* variables that make a relay publish into this kit's queue or stream (one oncely feeding another). */
  readonly relayEnv: Record<string, string>;
  /** Resolves once the broker confirmed the message; `duplicate` when it dropped it as a repeat (JetStream). */
  publish(body: string, options?: PublishOptions): Promise<{ duplicate?: boolean }>;
  /** Everything on the dead-letter path so far (left there: a second read sees it again). */
  deadLetters(): Promise<DeadLetter[]>;
  /** Messages the broker still holds for the inbox (not yet acknowledged). */
  pending(): Promise<number>;
  /** Closes the inbox connections named `name` or `name-<anything>` from the broker's side (or the proxy's); how many. */
  cutConnections(...names: string[]): Promise<number>;
  /** Deletes what the kit declared and closes its connections. */
  cleanup(): Promise<void>;
}

/** One message as a relay published it, seen by the kit's own consumer, in broker order. */
export interface Seen {
  messageId: string;
  /** The routing key / subject / `type` field. */
  routing: string;
  body: string;
  headers: Record<string, string>;
}

export interface Observer {
  /** Everything seen so far, in broker order. */
  seen(): Promise<Seen[]>;
  /** Deletes what the kit created at the broker (exchange, stream, subjects). */
  close(): Promise<void>;
}

/** A relay target of the kit's own (exchange, stream or subjects unique to it), and a consumer of what arrives there. */
export interface RelayKit {
  readonly name: BrokerName;
  /** RELAY_* for a relay publishing to this kit's target. */
  readonly env: Record<string, string>;
  /** The broker's port. */
  readonly port: number;
  /** The broker's URL with its port replaced (to go through a proxy). */
  urlVia(port: number): string;
  /** Starts consuming (before any relay publishes). */
  observe(): Promise<Observer>;
  /** How `routing` is derived from the wire type ('ledger.record' -> '<prefix>.ledger.record' for NATS). */
  routingOf(type: string): string;
}

export interface BrokerKits {
  inboxKit(options: InboxKitOptions): Promise<InboxKit>;
  relayKit(): RelayKit;
}

/** Whether a connection named `actual` is one of `names` (or a second connection of one: `<name>-ack`). */
export const isNamed = (actual: string, names: readonly string[]) => names.some((name) => actual === name || actual.startsWith(`${name}-`));
