// The API as the chaos run starts it: src/main's run with the chaos.poison command type registered.
import { run } from '../../src/main/run.ts';
import { createChaosRegistry } from '../poison.ts';

await run({ api: true, worker: false }, { registry: createChaosRegistry() });
