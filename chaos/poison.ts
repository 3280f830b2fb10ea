// A command type whose handler always throws: the chaos run's "poison" commands. Registered only by the
// harness's own entry points (chaos/entries/), so a production registry never carries it.
import { z } from 'zod';
import { defineCommand } from '../src/core/command.ts';
import { createRegistry, type Registry } from '../src/core/registry.ts';
import { createDefaultRegistry } from '../src/domains/index.ts';

export const POISON_TYPE = 'chaos.poison';

export const poisonCommand = defineCommand({
  type: POISON_TYPE,
  summary: 'Always fails (chaos testing only): retried until the retry limit, then dead.',
  payload: z.strictObject({ note: z.string().max(200).optional() }),
  handle() {
    return Promise.reject(new Error('chaos.poison always fails'));
  },
});

/** The built-in command types plus chaos.poison: what the harness's processes serve. */
export function createChaosRegistry(): Registry {
  return createRegistry([...createDefaultRegistry().definitions(), poisonCommand]);
}
