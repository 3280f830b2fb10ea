// The worker as the tests and the chaos run start it: src/main's run, with the chaos.poison command type
// registered and, when ONCELY_FAULT names one, a fault hook in each command's transaction.
import { fail, run } from '../../src/main/run.ts';
import { faultHooks, readFault } from '../faults.ts';
import { createChaosRegistry } from '../poison.ts';

const fault = (() => {
  try {
    return readFault(process.env);
  } catch (err) {
    return fail((err as Error).message, 2);
  }
})();
await run({ api: false, worker: true }, { registry: createChaosRegistry(), seams: (url) => ({ apply: faultHooks(fault, url) }) });
