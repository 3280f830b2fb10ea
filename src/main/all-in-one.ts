import { run } from './run.ts';

// The inbox runs too when an INBOX_*_URL is set (none set: no source starts).
await run({ api: true, worker: true, inbox: true }, { embedded: true });
