// The inbox role: the configured broker sources, each feeding the one delivery handler.
import { hostname } from 'node:os';
import { DEFAULT_BACKOFF, type Backoff } from '../brokers/backoff.ts';
import { brokerNamed, sourceSettingsOf, urlVariable, type InboxSettings } from '../brokers/registry.ts';
import type { InboxSource } from '../brokers/source.ts';
import type { Registry } from '../core/registry.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/registry.ts';
import { loadOptional } from '../optional.ts';
import type { NewCommand, Submission } from '../processor/submit.ts';
import { createDeliveryHandler, type InboxHooks } from './inbox.ts';
import { createInboxMetrics } from './metrics.ts';

export type { InboxHooks } from './inbox.ts';
export type { InboxSource } from '../brokers/source.ts';
export { inboxSubmissions } from './metrics.ts';
export { inboxConfigured, type InboxSettings } from '../brokers/registry.ts';

/**
 * The sources the settings configure (none when no INBOX_*_URL is set), one per broker in the registry whose URL
 * is set, each loading its broker's client (a missing package is one line naming the variable and the package).
 * Each connection is named after the process, so an operator (or a test) can find and close exactly this
 * process's connection.
 *
 * @example
 * const sources = await createInboxSources(config, { log });
 */
export async function createInboxSources(settings: InboxSettings, deps: { log: Logger; backoff?: Backoff }): Promise<InboxSource[]> {
  const context = { connectionName: `oncely-inbox-${hostname()}-${process.pid}`, log: deps.log, backoff: deps.backoff ?? DEFAULT_BACKOFF };
  const sources: InboxSource[] = [];
  for (const { broker: name, ...source } of sourceSettingsOf(settings)) {
    const broker = brokerNamed(name);
    const create = await loadOptional(`${urlVariable(broker)} (the ${broker.title} inbox)`, broker.packages, () => broker.source());
    sources.push(create({ ...source, ...context }));
  }
  return sources;
}

export interface Inbox {
  readonly sources: readonly InboxSource[];
  /** Stops every source: no new deliveries, those in hand commit and ack (or are left for redelivery). */
  stop(): Promise<void>;
}

/**
 * Starts the sources, each delivery going through intake and `submit` (the command service's group-committed
 * submission) under the source's client id.
 *
 * @example
 * const inbox = startInbox({ sources: await createInboxSources(config, { log }), registry, submit: service.submit, metrics, log });
 * await inbox.stop();
 */
export function startInbox(deps: {
  sources: readonly InboxSource[];
  registry: Registry;
  submit: (clientId: string, commands: readonly NewCommand[]) => Promise<Submission[]>;
  metrics: Metrics;
  log: Logger;
  hooks?: InboxHooks | undefined;
  backoff?: Backoff;
}): Inbox {
  const stopping = new AbortController();
  const metrics = createInboxMetrics(
    deps.metrics,
    deps.sources.map((source) => source.name),
  );
  for (const source of deps.sources) {
    const handle = createDeliveryHandler({
      source: source.name,
      clientId: source.clientId,
      registry: deps.registry,
      submit: deps.submit,
      metrics,
      log: deps.log,
      signal: stopping.signal,
      backoff: deps.backoff ?? DEFAULT_BACKOFF,
      hooks: deps.hooks,
    });
    source.start(async (delivery) => void (await handle(delivery)));
  }
  return {
    sources: deps.sources,
    async stop() {
      stopping.abort();
      await Promise.all(deps.sources.map((source) => source.stop()));
    },
  };
}
