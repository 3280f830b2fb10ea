// Every broker oncely speaks, in one list. The configuration schema, the inbox, the relay, the broker tests and
// the chaos harness iterate it; a new broker is a folder beside these and one line in BROKERS (docs/brokers.md,
// "Adding a broker"). Nothing here loads a broker's client: every process reads this, only a process that runs
// a broker loads its client.
import type { z } from 'zod';
import type { SourceContext } from './broker.ts';
import type { BrokerKits } from './kit.ts';
import { nats } from './nats/index.ts';
import type { Publisher } from './publisher.ts';
import { rabbitmq } from './rabbitmq/index.ts';
import { redis } from './redis/index.ts';
import type { InboxSource } from './source.ts';

/** Every broker, in the order the inbox starts their sources. A new broker is its import above and an entry here. */
export const BROKERS = [rabbitmq, nats, redis] as const;

type AnyBroker = (typeof BROKERS)[number];
export type BrokerName = AnyBroker['name'];

/** Every broker's name, in registry order (RELAY_BROKER's choices). */
export const BROKER_NAMES = BROKERS.map((broker) => broker.name) as unknown as readonly [BrokerName, ...BrokerName[]];

type Intersection<U> = (U extends unknown ? (value: U) => void : never) extends (value: infer I) => void ? I : never;

/** Every broker's INBOX_* variables, spread into the configuration schema (src/config.ts). */
export const inboxVariables = Object.assign({}, ...BROKERS.map((broker) => broker.inboxVariables)) as Intersection<AnyBroker['inboxVariables']>;

/** Every broker's own RELAY_* variables, spread into the configuration schema (src/config.ts). */
export const relayVariables = Object.assign({}, ...BROKERS.map((broker) => broker.relayVariables)) as Intersection<AnyBroker['relayVariables']>;

/** The INBOX_* settings (parsed by src/config.ts); a broker's source is configured when its URL is set. */
export type InboxSettings = z.output<z.ZodObject<typeof inboxVariables>>;

/** The RELAY_* settings the brokers read (parsed by src/config.ts). */
export type RelaySettings = z.output<z.ZodObject<typeof relayVariables>> & { RELAY_BROKER?: BrokerName | undefined; RELAY_URL?: string | undefined };

type SourceSettingsOf<B> = B extends AnyBroker ? { broker: B['name'] } & NonNullable<ReturnType<B['inboxSettings']>> : never;
type PublisherSettingsOf<B> = B extends AnyBroker ? { broker: B['name']; url: string } & ReturnType<B['relaySettings']> : never;

/** One broker's inbox settings, tagged with its name (a discriminated union over the brokers). */
export type SourceSettings = SourceSettingsOf<AnyBroker>;

/** Where the relay publishes: one broker's settings, tagged with its name (a discriminated union over the brokers). */
export type PublisherSettings = PublisherSettingsOf<AnyBroker>;

/** `F` with its parameters compared bivariantly (as a method's are), so each broker's own factory fits. */
type Bivariant<F extends (options: never) => unknown> = { method(...args: Parameters<F>): ReturnType<F> }['method'];

/**
 * A descriptor as the code iterating the registry sees it (each descriptor's own types are checked where it is
 * defined). Method syntax: its parameters are compared bivariantly, so every descriptor fits.
 */
export interface Broker {
  readonly name: BrokerName;
  readonly title: string;
  readonly packages: readonly string[];
  readonly defaultUrl: string;
  inboxSettings(config: InboxSettings): object | undefined;
  source(): Promise<Bivariant<(options: object & SourceContext) => InboxSource>>;
  relaySettings(config: RelaySettings): object;
  publisher(): Promise<Bivariant<(options: { url: string }) => Publisher>>;
  kits(): Promise<BrokerKits>;
}

/** BROKERS, for iterating. */
export const brokers: readonly Broker[] = BROKERS;

/** The broker called `name`. */
export const brokerNamed = (name: BrokerName): Broker => {
  const broker = brokers.find((candidate) => candidate.name === name);
  if (!broker) throw new Error(`unknown broker ${name}`);
  return broker;
};

/** The variable whose value turns a broker's inbox source on. */
export const urlVariable = (broker: Broker) => `INBOX_${broker.name.toUpperCase()}_URL`;

/**
 * The settings of every source configured (those whose INBOX_<BROKER>_URL is set), in registry order.
 *
 * @example
 * sourceSettingsOf(parseConfig({ INBOX_REDIS_URL: 'redis://127.0.0.1:6379' })); // [{ broker: 'redis', stream: 'oncely:commands', ... }]
 */
export function sourceSettingsOf(config: InboxSettings): SourceSettings[] {
  return brokers.flatMap((broker) => {
    const settings = broker.inboxSettings(config);
    return settings ? [{ broker: broker.name, ...settings } as SourceSettings] : [];
  });
}

/**
 * Whether any INBOX_<BROKER>_URL is set.
 *
 * @example
 * if (inboxConfigured(config)) await import('./inbox/index.ts');
 */
export const inboxConfigured = (config: InboxSettings): boolean => sourceSettingsOf(config).length > 0;

/**
 * The relay's broker URL: RELAY_URL, else the broker's local default; undefined without RELAY_BROKER.
 *
 * @example
 * relayUrl({ RELAY_BROKER: 'nats' }); // 'nats://127.0.0.1:4222'
 */
export function relayUrl(config: { RELAY_BROKER?: BrokerName | undefined; RELAY_URL?: string | undefined }): string | undefined {
  return config.RELAY_BROKER ? (config.RELAY_URL ?? brokerNamed(config.RELAY_BROKER).defaultUrl) : undefined;
}

/**
 * Where the relay publishes, read from the configuration by RELAY_BROKER's descriptor; undefined without RELAY_BROKER.
 *
 * @example
 * const settings = publisherSettingsOf(config);
 * if (settings) relay = startRelay({ publisher: await createPublisher(settings), ... });
 */
export function publisherSettingsOf(config: RelaySettings): PublisherSettings | undefined {
  if (!config.RELAY_BROKER) return undefined;
  const broker = brokerNamed(config.RELAY_BROKER);
  return { broker: broker.name, url: relayUrl(config) ?? broker.defaultUrl, ...broker.relaySettings(config) } as PublisherSettings;
}

/**
 * Names listed for a message: `a`, `a or b`, `a, b or c`.
 *
 * @example
 * orList(BROKER_NAMES); // 'rabbitmq, nats or redis'
 */
export function orList(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}
