// A command type whose handler always throws: the chaos run's "poison" commands. Registered only when
// ONCELY_CHAOS_POISON=1 (the chaos harness sets it on the api and worker processes it starts), so a
// production registry never carries it.
import { z } from 'zod';
import { defineCommand } from '../src/core/command.ts';

export const POISON_TYPE = 'chaos.poison';

export const poisonCommand = defineCommand({
  type: POISON_TYPE,
  summary: 'Always fails (chaos testing only): retried until the retry limit, then dead.',
  payload: z.strictObject({ note: z.string().max(200).optional() }),
  handle() {
    return Promise.reject(new Error('chaos.poison always fails'));
  },
});
