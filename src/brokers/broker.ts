// What a broker is to oncely: one descriptor object, exported by src/brokers/<name>/index.ts and listed once in
// src/brokers/registry.ts. The configuration, the inbox, the relay, the tests and the chaos harness iterate that
// list; none of them names a broker. A descriptor loads nothing heavy: its client code (amqplib, @nats-io, node-redis
// take seconds to load on a small machine) is imported only by a process that uses the broker.
import type { z } from 'zod';
import type { Logger } from '../log.ts';
import type { Backoff } from './backoff.ts';
import type { BrokerKits } from './kit.ts';
import type { Publisher } from './publisher.ts';
import type { InboxSource } from './source.ts';

/** What the inbox gives every source it creates. */
export interface SourceContext {
  /** The broker connection's name: `oncely-inbox-<hostname>-<pid>`, so an operator can find this process's. */
  connectionName: string;
  log: Logger;
  backoff: Backoff;
}

/**
 * One broker: its settings (environment variables and the typed settings read from them), its inbox source, its
 * outbox publisher, and a kit that drives it from outside for tests and the chaos harness.
 */
export interface BrokerDescriptor<Name extends string, InboxShape extends z.ZodRawShape, RelayShape extends z.ZodRawShape, InboxSettings, RelaySettings> {
  /** RELAY_BROKER's value, the `source` label of the inbox metrics, the prefix of its default client id. */
  readonly name: Name;
  /** How messages name it (`NATS JetStream`). */
  readonly title: string;
  /** Its client's npm packages (optional peer dependencies), named when one is missing. */
  readonly packages: readonly string[];
  /** Where the relay publishes when RELAY_URL is unset. */
  readonly defaultUrl: string;
  /** `INBOX_<NAME>_*`: its inbox source runs when `INBOX_<NAME>_URL` is set. */
  readonly inboxVariables: InboxShape;
  /** The `RELAY_*` variables only this broker reads. */
  readonly relayVariables: RelayShape;
  /** The source's settings from the parsed variables; undefined when `INBOX_<NAME>_URL` is unset. */
  inboxSettings(config: z.output<z.ZodObject<InboxShape>>): InboxSettings | undefined;
  /** Loads the broker's client and gives its sources' factory (a source connects when it starts). */
  source(): Promise<(options: InboxSettings & SourceContext) => InboxSource>;
  /** The publisher's settings from the parsed variables (the URL is added by the registry). */
  relaySettings(config: z.output<z.ZodObject<RelayShape>>): RelaySettings;
  /** Loads the broker's client and gives its publishers' factory (a publisher connects on its first publish). */
  publisher(): Promise<(options: RelaySettings & { url: string }) => Publisher>;
  /** Loads the kit that drives this broker from outside: tests, the chaos harness, benchmarks. */
  kits(): Promise<BrokerKits>;
}

/**
 * Declares a broker; the types of its variables and settings flow into the configuration and the registry.
 *
 * @example
 * export const kafka = defineBroker({ name: 'kafka', title: 'Kafka', packages: ['kafkajs'], defaultUrl: 'kafka://127.0.0.1:9092', ... });
 */
export function defineBroker<const Name extends string, InboxShape extends z.ZodRawShape, RelayShape extends z.ZodRawShape, InboxSettings, RelaySettings>(
  descriptor: BrokerDescriptor<Name, InboxShape, RelayShape, InboxSettings, RelaySettings>,
): BrokerDescriptor<Name, InboxShape, RelayShape, InboxSettings, RelaySettings> {
  return descriptor;
}
