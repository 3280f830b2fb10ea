// `npm run inbox`: the broker consumers alone (RabbitMQ, NATS JetStream, Redis Streams, as INBOX_*_URL
// configure them), storing each delivery before acking it; metrics on METRICS_PORT when set.
import { brokers, orList, urlVariable } from '../brokers/registry.ts';
import { inboxConfigured } from '../system.ts';
import { fail, loadConfig, run } from './run.ts';

if (!inboxConfigured(loadConfig())) fail(`no inbox configured: set ${orList(brokers.map(urlVariable))}`, 2);
await run({ api: false, worker: false, inbox: true });
