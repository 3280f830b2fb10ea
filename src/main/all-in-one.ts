import { run } from './run.ts';

// The inbox runs too when an INBOX_*_URL is set (none set: no source starts); the relay when RELAY_BROKER is set.
await run({ api: true, worker: true, inbox: true, relay: true }, { embedded: true });
