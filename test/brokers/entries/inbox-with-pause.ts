// The real inbox entry plus one test hook: after the command whose id ONCELY_TEST_PAUSE_AFTER_COMMIT names is
// committed, and before its message is acked, it says so on stdout and waits forever, for the test to SIGKILL it.
import { run } from '../../../src/main/run.ts';

const pauseId = process.env['ONCELY_TEST_PAUSE_AFTER_COMMIT'];
await run(
  { api: false, worker: false, inbox: true },
  {
    seams: () => ({
      inbox: {
        async afterCommit({ id }) {
          if (id !== pauseId) return;
          process.stdout.write(`paused-after-commit ${id}\n`);
          await new Promise(() => {});
        },
      },
    }),
  },
);
