// The one delivery handler every broker source feeds: it takes each delivery through the processor's intake and
// group-committed submission, acknowledging it only once its command row and job are committed (contract
// guarantee 10). A source (src/brokers/<name>/inbox.ts) knows its broker; the handler knows nothing of brokers.
import type { Registry } from '../core/registry.ts';
import type { Logger } from '../log.ts';
import { describeFailure, isRetryable } from '../processor/errors.ts';
import { checkIntake } from '../processor/intake.ts';
import type { NewCommand, Submission } from '../processor/submit.ts';
import { backoffDelay, pause, type Backoff } from '../brokers/backoff.ts';
import { MAX_BODY_BYTES, type DeadLetterProblem, type Delivery, type SourceName } from '../brokers/source.ts';
import type { InboxMetrics } from './metrics.ts';

/** Failures of a submission that are not transient (a value PostgreSQL refuses, a bug) before it is dead-lettered. */
export const MAX_UNSTORABLE_ATTEMPTS = 3;

export type DeliveryResult = 'accepted' | 'duplicate' | 'dead_lettered' | 'abandoned';

/** Test hooks; production passes none. */
export interface InboxHooks {
  /** Runs after a delivery's command is committed and before it is acknowledged (a test kills the process here). */
  afterCommit?: (event: { source: SourceName; id: string; outcome: Submission['outcome'] }) => Promise<void>;
}

export interface DeliveryHandlerOptions {
  source: SourceName;
  clientId: string;
  registry: Registry;
  /** The command service's group-committed submit: resolves once the transaction is committed. */
  submit: (clientId: string, commands: readonly NewCommand[]) => Promise<Submission[]>;
  metrics: InboxMetrics;
  log: Logger;
  /** Aborted when the inbox stops: a delivery held by a PostgreSQL outage is left unacknowledged for redelivery. */
  signal: AbortSignal;
  backoff: Backoff;
  hooks?: InboxHooks | undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const NOT_JSON = Symbol('not JSON');

function parseBody(body: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof body === 'string' ? body : decoder.decode(body));
  } catch {
    return NOT_JSON;
  }
}

/** Why a submission failed, without SQL or a stack: PostgreSQL's SQLSTATE, or the first line of a bug's message. */
function whyUnstorable(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return `PostgreSQL refused it (SQLSTATE ${code})`;
  return describeFailure(err).message.split('\n')[0] ?? 'unknown error';
}

/**
 * The one path of every delivery: parse, check the envelope, submit (group-committed with every other
 * submission of this process), then acknowledge, or dead-letter what can never be stored. If the submission
 * fails transiently (PostgreSQL down: `isRetryable`) the delivery is held and retried with capped backoff,
 * never acknowledged and never dead-lettered (the source keeps extending its deadline meanwhile); the loop
 * ends when the delivery commits, the inbox stops, or the delivery's channel is gone (the broker then
 * redelivers it). A failure that is not transient (a value PostgreSQL refuses, a bug) is tried
 * MAX_UNSTORABLE_ATTEMPTS times, then dead-lettered as `unstorable`, so it holds no prefetch slot forever.
 *
 * @example
 * const handle = createDeliveryHandler({ source: 'redis', clientId: 'redis:commands', registry, submit: service.submit, metrics, log, signal, backoff: DEFAULT_BACKOFF });
 * source.start(handle);
 */
export function createDeliveryHandler(options: DeliveryHandlerOptions): (delivery: Delivery) => Promise<DeliveryResult> {
  const { source, clientId, registry, metrics, log, signal } = options;

  const deadLetter = async (delivery: Delivery, problem: DeadLetterProblem): Promise<DeliveryResult> => {
    if (!delivery.live()) return 'abandoned';
    await delivery.deadLetter(problem);
    metrics.delivery(source, 'dead_lettered');
    log.warn({ source, key: delivery.key, reason: problem.reason, detail: problem.detail }, 'inbox: message dead-lettered');
    return 'dead_lettered';
  };

  return async (delivery) => {
    if (delivery.unreadBytes !== undefined) {
      return deadLetter(delivery, { reason: 'payload_too_large', detail: `the entry is ${delivery.unreadBytes} bytes, over ${MAX_BODY_BYTES}` });
    }
    if (delivery.body === undefined) return deadLetter(delivery, { reason: 'invalid_request', detail: 'the message carries no envelope' });
    const size = typeof delivery.body === 'string' ? Buffer.byteLength(delivery.body) : delivery.body.byteLength;
    if (size > MAX_BODY_BYTES) return deadLetter(delivery, { reason: 'payload_too_large', detail: `the body is ${size} bytes, over ${MAX_BODY_BYTES}` });
    const raw = parseBody(delivery.body);
    if (raw === NOT_JSON) return deadLetter(delivery, { reason: 'invalid_request', detail: 'the message body is not UTF-8 JSON' });
    const intake = checkIntake(raw, registry, { key: delivery.key, keyName: delivery.keyName, keyPath: delivery.keyPath });
    if (!intake.ok) return deadLetter(delivery, { reason: intake.reason, detail: intake.detail });

    const command = intake.command;
    let submission: Submission | undefined;
    let unstorable = 0;
    for (let attempt = 0; submission === undefined; attempt++) {
      // Bounded by the inbox's life and the delivery's: each wait is capped, stop or a lost channel ends it.
      if (signal.aborted || !delivery.live()) return 'abandoned';
      try {
        [submission] = await options.submit(clientId, [command]);
        if (!submission) throw new Error('the command service gave no answer');
      } catch (err) {
        const transient = isRetryable(err);
        if (!transient && ++unstorable >= MAX_UNSTORABLE_ATTEMPTS) {
          return deadLetter(delivery, { reason: 'unstorable', detail: `the command could not be stored after ${unstorable} attempts: ${whyUnstorable(err)}` });
        }
        metrics.delivery(source, 'retried');
        // The first failure and every tenth after it: an outage holds up to a prefetch's worth of deliveries.
        if (attempt % 10 === 0 || !transient) {
          const error = { message: (err as Error).message, code: (err as { code?: string }).code };
          log.warn({ source, key: command.id, attempt, transient, err: error }, 'inbox: submission failed, holding the message');
        }
        await pause(backoffDelay(attempt, options.backoff), signal);
      }
    }

    await options.hooks?.afterCommit?.({ source, id: command.id, outcome: submission.outcome });
    if (submission.outcome === 'reused') {
      return deadLetter(delivery, { reason: 'idempotency_key_reused', detail: `the id ${command.id} was already used for a different command` });
    }
    // Committed: from here a lost ack only means a redelivery, which comes back as a duplicate.
    if (!delivery.live()) return 'abandoned';
    await delivery.ack();
    metrics.delivery(source, submission.outcome);
    return submission.outcome;
  };
}
