// The chaos run's HTTP client: one request is one history operation. An operation whose answer never came
// (connection refused or reset, a timeout, a 5xx) is `unknown`; the workload then re-sends the same request
// under the same id, as a careful client would, until it gets a definite answer or its time runs out.
import type { Envelope, History, Op, OpKind, SeenStatus } from './history.ts';

const TERMINAL = new Set(['succeeded', 'rejected', 'conflict', 'dead']);

export const isTerminalStatus = (status: string | undefined): boolean => status !== undefined && TERMINAL.has(status);

export interface Answer {
  op: Op;
  /** The problem code of a 4xx. */
  problem?: string;
}

export interface ChaosClient {
  /** One POST /v1/commands. */
  send(envelope: Envelope, kind: OpKind, waitSeconds?: number): Promise<Answer>;
  /** POSTs until the answer is definite (ok or failed) or `deadline` passes; returns the last answer. */
  submit(envelope: Envelope, deadline: number, waitSeconds?: number): Promise<Answer>;
  /** GETs the command (Prefer: wait) until it is terminal or `deadline` passes. */
  settle(id: string, deadline: number): Promise<SeenStatus | undefined>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function seenOf(body: unknown): SeenStatus | undefined {
  if (typeof body !== 'object' || body === null || !('status' in body) || typeof body.status !== 'string') return undefined;
  const value = body as { status: string; result?: unknown; error?: { code: string } | null };
  return { status: value.status, result: value.result ?? null, error: value.error ? { code: value.error.code } : null };
}

/**
 * @example
 * const client = createChaosClient('http://127.0.0.1:4000', history);
 * const answer = await client.submit({ id: 'c1', type: 'account.open', entityId: 'a1', payload: {} }, Date.now() + 60_000);
 */
export function createChaosClient(baseUrl: string, history: History, requestTimeoutMs = 40_000): ChaosClient {
  async function request(id: string, kind: OpKind, url: string, init: RequestInit): Promise<Answer> {
    const invokedAt = Date.now();
    let op: Op;
    let problemCode: string | undefined;
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(requestTimeoutMs) });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = undefined;
      }
      const base = { id, kind, invokedAt, completedAt: Date.now(), http: res.status };
      const seen = seenOf(body);
      if ((res.status === 200 || res.status === 202) && seen) {
        op = { ...base, outcome: 'ok', replayed: res.headers.get('idempotent-replayed') === 'true', seen };
      } else if (res.status >= 400 && res.status < 500) {
        problemCode = typeof body === 'object' && body !== null && 'code' in body ? String(body.code) : `http_${res.status}`;
        op = { ...base, outcome: 'failed', problem: problemCode };
      } else {
        const code = typeof body === 'object' && body !== null && 'code' in body ? String(body.code) : undefined;
        op = { ...base, outcome: 'unknown', ...(code ? { problem: code } : {}) };
      }
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      op = { id, kind, invokedAt, completedAt: Date.now(), outcome: 'unknown', error: cause?.code ?? (err as Error).name };
    }
    history.record(op);
    return problemCode ? { op, problem: problemCode } : { op };
  }

  const client: ChaosClient = {
    send(envelope, kind, waitSeconds) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (waitSeconds) headers['prefer'] = `wait=${waitSeconds}`;
      return request(envelope.id, kind, `${baseUrl}/v1/commands`, { method: 'POST', headers, body: JSON.stringify(envelope) });
    },
    async submit(envelope, deadline, waitSeconds) {
      let answer = await client.send(envelope, 'submit', waitSeconds);
      let backoff = 100;
      while (answer.op.outcome === 'unknown' && Date.now() < deadline) {
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 2000);
        answer = await client.send(envelope, 'retry', waitSeconds);
      }
      return answer;
    },
    async settle(id, deadline) {
      let backoff = 100;
      while (Date.now() < deadline) {
        const answer = await request(id, 'read', `${baseUrl}/v1/commands/${encodeURIComponent(id)}`, { headers: { prefer: 'wait=10' } });
        if (answer.op.outcome === 'ok' && isTerminalStatus(answer.op.seen?.status)) return answer.op.seen;
        if (answer.op.outcome === 'failed') return undefined;
        if (answer.op.outcome === 'unknown') {
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 2000);
        }
      }
      return undefined;
    },
  };
  return client;
}
