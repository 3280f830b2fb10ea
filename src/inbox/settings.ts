// What the inbox role needs to know before it loads any broker client (amqplib, @nats-io, node-redis take
// seconds to load on a small machine): every process asks this, only an inbox process loads the rest. The
// settings are every broker's INBOX_* variables (src/brokers/registry.ts).
export { inboxConfigured, type InboxSettings } from '../brokers/registry.ts';
