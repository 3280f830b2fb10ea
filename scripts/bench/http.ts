// HTTP load generator for the oncely API: keep-alive connections (one per client), closed and open loops.
import http from 'node:http';
import { sleep } from './measure.ts';

export interface Command {
  id: string;
  type: string;
  entityId: string;
  payload: Record<string, unknown>;
}

export interface Answer {
  status: number;
  body: string;
  ms: number;
}

export interface HttpClient {
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Answer>;
  close(): void;
}

/** A client whose agent keeps up to `sockets` connections open and reuses them. */
export function httpClient(baseUrl: string, sockets: number): HttpClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const base = new URL(baseUrl);
  return {
    post(path, body, headers = {}) {
      const data = Buffer.from(JSON.stringify(body));
      const started = performance.now();
      return new Promise<Answer>((resolve, reject) => {
        const req = http.request(
          {
            agent,
            host: base.hostname,
            port: base.port,
            method: 'POST',
            path,
            headers: { 'content-type': 'application/json', 'content-length': String(data.length), ...headers },
            timeout: 60_000,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), ms: performance.now() - started }));
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`POST ${path}: no answer within 60 s`)));
        req.on('error', reject);
        req.end(data);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

export interface SubmitStats {
  /** Commands accepted (2xx). */
  accepted: number;
  /** Answers that were not 2xx, or requests that failed, before a retry. */
  errors: number;
  firstError: string | undefined;
  /** performance.now() of the first request and of the last answer. */
  startedAt: number;
  endedAt: number;
  /** Request latencies of the accepted answers, ms. */
  latencies: number[];
  /** The same without each client's first request (perClient loops only). */
  laterLatencies: number[];
  /** 200 answers (terminal within Prefer: wait) versus 202. */
  answered200: number;
}

function newStats(): SubmitStats {
  return { accepted: 0, errors: 0, firstError: undefined, startedAt: performance.now(), endedAt: 0, latencies: [], laterLatencies: [], answered200: 0 };
}

/**
 * Posts one command until it is accepted. A failed attempt (5xx, a dropped connection) is counted and
 * repeated with the same id: the contract makes that safe. Gives up after `attempts`.
 */
async function postUntilAccepted(
  client: HttpClient,
  command: Command,
  headers: Record<string, string>,
  stats: SubmitStats,
  signal: AbortSignal,
  later = false,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    let problem: string;
    try {
      const answer = await client.post('/v1/commands', command, headers);
      if (answer.status === 200 || answer.status === 202) {
        stats.accepted++;
        stats.latencies.push(answer.ms);
        if (later) stats.laterLatencies.push(answer.ms);
        if (answer.status === 200) stats.answered200++;
        return;
      }
      problem = `HTTP ${answer.status}: ${answer.body.slice(0, 200)}`;
      if (answer.status < 500) throw new Error(`command ${command.id} refused: ${problem}`);
    } catch (err) {
      if ((err as Error).message.includes('refused:')) throw err;
      problem = (err as Error).message;
    }
    stats.errors++;
    stats.firstError ??= problem;
    if (attempt >= 10) throw new Error(`command ${command.id} not accepted after ${attempt} attempts: ${problem}`);
    await sleep(100 * attempt);
  }
}

/**
 * Closed loop: `clients` producers share the list; each posts its next command as soon as its previous POST
 * answered. `pick(i)` lets a client take only its own commands (the wait scenario); by default they share one queue.
 */
export async function closedLoop(
  client: HttpClient,
  commands: readonly Command[],
  clients: number,
  options: { headers?: Record<string, string>; signal: AbortSignal; onAccepted?: () => void; perClient?: boolean },
): Promise<SubmitStats> {
  const stats = newStats();
  // One producer failing stops the others.
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  let next = 0;
  const producer = async (index: number) => {
    if (options.perClient) {
      for (let i = index; i < commands.length; i += clients) {
        await postUntilAccepted(client, commands[i]!, options.headers ?? {}, stats, signal, i !== index);
        options.onAccepted?.();
      }
      return;
    }
    while (next < commands.length) {
      const command = commands[next++]!;
      await postUntilAccepted(client, command, options.headers ?? {}, stats, signal);
      options.onAccepted?.();
    }
  };
  await Promise.all(
    Array.from({ length: clients }, (_, i) =>
      producer(i).catch((err: unknown) => {
        stop.abort(err);
        throw err;
      }),
    ),
  );
  stats.endedAt = performance.now();
  return stats;
}

/** Open loop: one command every 1/rate seconds on the clock, whatever the answers; waits for every answer. */
export async function openLoop(
  client: HttpClient,
  commands: readonly Command[],
  rate: number,
  options: { signal: AbortSignal; onAccepted?: () => void },
): Promise<SubmitStats> {
  const stats = newStats();
  const inFlight: Promise<void>[] = [];
  // Boxed, so that whatever was thrown (even a falsy value) is rethrown as it was.
  let failure: { error: unknown } | undefined;
  for (const [i, command] of commands.entries()) {
    const due = stats.startedAt + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    options.signal.throwIfAborted();
    if (failure) break;
    const request = postUntilAccepted(client, command, {}, stats, options.signal).then(() => options.onAccepted?.());
    inFlight.push(request.catch((err: unknown) => void (failure ??= { error: err })));
  }
  await Promise.all(inFlight);
  if (failure) throw failure.error;
  stats.endedAt = performance.now();
  return stats;
}

/** Submits through POST /v1/commands/batch, `size` per request, one request at a time. */
export async function batchSubmit(
  client: HttpClient,
  commands: readonly Command[],
  size: number,
  options: { signal: AbortSignal; onAccepted?: (n: number) => void },
): Promise<SubmitStats> {
  const stats = newStats();
  for (let i = 0; i < commands.length; i += size) {
    options.signal.throwIfAborted();
    const chunk = commands.slice(i, i + size);
    const answer = await client.post('/v1/commands/batch', { commands: chunk });
    if (answer.status !== 200) throw new Error(`batch submission refused: HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
    const { results } = JSON.parse(answer.body) as { results: { id: string; outcome: string; problem?: unknown }[] };
    const refused = results.filter((r) => r.outcome === 'rejected');
    if (refused.length > 0) throw new Error(`batch submission: ${refused.length} commands rejected, e.g. ${JSON.stringify(refused[0])}`);
    stats.accepted += chunk.length;
    stats.latencies.push(answer.ms);
    options.onAccepted?.(chunk.length);
  }
  stats.endedAt = performance.now();
  return stats;
}
