// The broker tests' kits: one per broker in the registry (src/brokers/<name>/kit.ts), each with a queue or stream
// of the test's own, declared as the inbox declares it, short ack and claim times, and connections the test can cut.
import { BROKER_NAMES, brokerNamed, type BrokerName } from '../../src/brokers/registry.ts';
import type { InboxKit, RelayKit } from '../../src/brokers/kit.ts';

export { BROKER_NAMES, type BrokerName };
export type { DeadLetter, PublishOptions, Seen, Observer } from '../../src/brokers/kit.ts';
export type BrokerKit = InboxKit;

/** The options of every test's kit: names of the test's own, short ack and claim times, cuttable connections. */
export const TEST_KIT = { label: 'test', quick: true, proxied: true } as const;

/**
 * A kit for one test (its caller cleans it up).
 *
 * @example
 * const kit = await brokerKit('redis');
 * cleanups.push(() => kit.cleanup());
 */
export async function brokerKit(name: BrokerName): Promise<BrokerKit> {
  return (await brokerNamed(name).kits()).inboxKit(TEST_KIT);
}

/** A relay target of the test's own on that broker, and a consumer of what arrives there. */
export async function relayKit(name: BrokerName): Promise<RelayKit> {
  return (await brokerNamed(name).kits()).relayKit();
}
