// The real relay (RELAY_* from the environment) with one test hook: after the broker confirmed a batch and
// before the batch is marked sent, it prints the published ids and waits forever, so the test can SIGKILL
// it exactly between publish and mark. Production entries never take this hook.
import { parseConfig } from '../../../src/config.ts';
import { createLogger } from '../../../src/log.ts';
import { referenceDomains } from '../../../src/domains/index.ts';
import { startSystem } from '../../helpers/system.ts';

const config = parseConfig(process.env);
if (!config.DATABASE_URL || !config.RELAY_BROKER) throw new Error('DATABASE_URL and RELAY_BROKER must be set');
await startSystem({
  config: { ...config, DATABASE_URL: config.DATABASE_URL },
  roles: { api: false, worker: false, relay: true },
  log: createLogger(config.LOG_LEVEL, 'relay-with-pause'),
  domains: referenceDomains,
  migrate: false,
  relay: {
    async afterPublish(published) {
      if (published.length === 0) return;
      process.stdout.write(`PAUSED ${JSON.stringify(published.map((event) => event.id))}\n`);
      await new Promise(() => {});
    },
  },
});
