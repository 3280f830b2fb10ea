// The relay's publisher: the broker RELAY_BROKER names, found in the registry (src/brokers/registry.ts).
import { brokerNamed, type PublisherSettings } from '../brokers/registry.ts';
import type { Publisher } from '../brokers/publisher.ts';
import { loadOptional } from '../optional.ts';

export { publisherSettingsOf, type PublisherSettings } from '../brokers/registry.ts';

/** Where the relay publishes: one broker's settings, tagged with its name (`publisherSettingsOf(config)`). */
export type BrokerSettings = PublisherSettings;

/**
 * The publisher for the settings' broker (nothing connects until the first publish); a missing client package
 * is one line naming RELAY_BROKER and the package.
 *
 * @example
 * const publisher = await createPublisher({ broker: 'redis', url: 'redis://127.0.0.1:6379', stream: 'oncely.events' });
 */
export async function createPublisher(settings: PublisherSettings): Promise<Publisher> {
  const broker = brokerNamed(settings.broker);
  const create = await loadOptional(`RELAY_BROKER=${broker.name}`, broker.packages, () => broker.publisher());
  return create(settings);
}
