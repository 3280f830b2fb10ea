// The inbox role: the broker consumers INBOX_*_URL configure, each delivery stored (group-committed, like
// the api's submissions) before it is acked. Nothing runs when none is configured.
import type { InboxHooks } from '../inbox/index.ts';
import { inboxSubmissions } from '../inbox/metrics.ts';
import { inboxConfigured } from '../inbox/settings.ts';
import type { Base, Stoppable } from './base.ts';

/**
 * Starts the configured sources, or nothing. The broker clients load only here: they add seconds to every
 * start otherwise.
 *
 * @example
 * const inbox = await startInboxRole(base);
 */
export async function startInboxRole(base: Base, hooks?: InboxHooks): Promise<Stoppable | undefined> {
  const { config, log, metrics, registry } = base;
  if (!inboxConfigured(config)) return undefined;
  const { createInboxSources, startInbox } = await import('../inbox/index.ts');
  const sources = await createInboxSources(config, { log });
  if (sources.length === 0) return undefined;
  // A service of its own (the same submission pool), so its duplicates count at stage `inbox`.
  const service = base.commandService({ pipelined: true, listener: undefined, onSubmitted: inboxSubmissions(metrics) });
  return startInbox({ sources, registry, submit: (clientId, commands) => service.submit(clientId, commands), metrics, log, hooks });
}
