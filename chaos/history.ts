// The client-side history of a chaos run: every operation as invoked and as it ended (ok, failed, unknown),
// grouped by command id, in the spirit of a Jepsen history.
import { createWriteStream, type WriteStream } from 'node:fs';

export interface Envelope {
  id: string;
  type: string;
  entityId: string;
  expectedVersion?: number;
  payload: Record<string, unknown>;
}

/** What the client saw of a command's status in a 2xx answer. */
export interface SeenStatus {
  status: string;
  result: unknown;
  error: { code: string } | null;
}

/** `publish`: the command published to a broker (ok: the broker confirmed it; unknown: no confirmation). */
export type OpKind = 'submit' | 'resend' | 'concurrent' | 'retry' | 'different' | 'read' | 'publish';

export interface Op {
  id: string;
  kind: OpKind;
  invokedAt: number;
  completedAt: number;
  /** ok: a 2xx with a command status; failed: a definite refusal (4xx); unknown: no answer, a timeout or a 5xx. */
  outcome: 'ok' | 'failed' | 'unknown';
  http?: number;
  replayed?: boolean;
  seen?: SeenStatus;
  problem?: string;
  error?: string;
}

export interface CommandRecord {
  envelope: Envelope;
  /** Poison commands always fail; the checker expects exactly them among the dead. */
  poison: boolean;
  /** The broker it was published to, for a broker-fed command (stored under that inbox's client id). */
  via?: string;
  ops: Op[];
}

export interface History {
  readonly commands: ReadonlyMap<string, CommandRecord>;
  /** Registers a command the workload is about to send (its first invocation). */
  register(envelope: Envelope, poison?: boolean, via?: string): CommandRecord;
  record(op: Op): void;
  /** How many operations of each outcome. */
  counts(): Record<Op['outcome'], number>;
  close(): Promise<void>;
}

/**
 * An in-memory history that is also appended to a JSON-lines file, one line per operation.
 *
 * @example
 * const history = createHistory('/tmp/run/history.jsonl');
 */
export function createHistory(file: string): History {
  const commands = new Map<string, CommandRecord>();
  const totals = { ok: 0, failed: 0, unknown: 0 };
  const out: WriteStream = createWriteStream(file);
  return {
    commands,
    register(envelope, poison = false, via) {
      let record = commands.get(envelope.id);
      if (!record) {
        record = { envelope, poison, ops: [], ...(via ? { via } : {}) };
        commands.set(envelope.id, record);
        out.write(JSON.stringify({ register: envelope, poison, ...(via ? { via } : {}) }) + '\n');
      }
      return record;
    },
    record(op) {
      commands.get(op.id)?.ops.push(op);
      totals[op.outcome]++;
      out.write(JSON.stringify(op) + '\n');
    },
    counts: () => ({ ...totals }),
    close: () => new Promise<void>((resolve) => out.end(resolve)),
  };
}
