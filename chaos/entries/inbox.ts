// The inbox as the chaos run starts it: src/main/inbox.ts (`npm run inbox`), with the chaos.poison command
// type registered like the api and the workers, so every process has the same registry.
import { inboxConfigured } from '../../src/system.ts';
import { fail, loadConfig, run } from '../../src/main/run.ts';
import { createChaosRegistry } from '../poison.ts';

if (!inboxConfigured(loadConfig())) fail('no inbox configured: set INBOX_RABBITMQ_URL, INBOX_NATS_URL or INBOX_REDIS_URL', 2);
await run({ api: false, worker: false, inbox: true }, { registry: createChaosRegistry() });
