// Tracing, request to effect: one trace runs from the client's HTTP request through the submission (its
// context stored with the command) to the worker's batch and the command's applied effect. With tracing
// off nothing is exported and no context is stored, even when the request carries a traceparent.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poisonCommand } from '../../chaos/poison.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { createDefaultRegistry, referenceDomains } from '../../src/domains/index.ts';
import { createLogger } from '../../src/log.ts';
import type { System } from '../../src/system.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { startSystem, testConfig, waitForTerminal, waitUntil } from '../helpers/system.ts';

const db = useTestDatabase();

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

async function startWith(env: Record<string, string>, exporter: InMemorySpanExporter, log = createLogger('silent', 'test')): Promise<System> {
  // chaos.poison always fails: its retries and its death show up as spans too.
  const registry = createRegistry([...createDefaultRegistry().definitions(), poisonCommand]);
  return startSystem({
    config: testConfig(db.url, env),
    roles: { api: true, worker: true },
    log,
    domains: referenceDomains,
    registry,
    migrate: false,
    spanExporters: [exporter],
  });
}

function post(system: System, path: string, body: unknown, headers: Record<string, string> = {}) {
  return Promise.resolve(system.app!.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }));
}

async function storedTraceParent(id: string): Promise<string | null | undefined> {
  const { rows } = await db.pool.query<{ trace_parent: string | null }>(`SELECT trace_parent FROM oncely.commands WHERE client_id = 'anonymous' AND id = $1`, [id]);
  return rows[0]?.trace_parent;
}

const one = (spans: ReadableSpan[], what: string, match: (span: ReadableSpan) => boolean): ReadableSpan => {
  const found = spans.filter(match);
  expect(found, what).toHaveLength(1);
  return found[0]!;
};

const applySpanOf = (id: string) => (span: ReadableSpan) => span.name === 'oncely.apply' && span.attributes['oncely.command.id'] === id;

describe('tracing on (OTEL_TRACES_EXPORTER set)', () => {
  let system: System;
  const exporter = new InMemorySpanExporter();
  const lines: string[] = [];
  const log = createLogger('info', 'test', new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) }));

  beforeAll(async () => {
    system = await startWith({ OTEL_TRACES_EXPORTER: 'console', OTEL_BSP_SCHEDULE_DELAY: '50', RETRY_LIMIT: '2' }, exporter, log);
  });
  afterAll(async () => {
    await system?.stop();
  });

  it('puts the HTTP request, the stored submission, the batch and the applied command in one trace', async () => {
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const response = await post(
      system,
      '/v1/commands',
      { id: 'traced-open', type: 'account.open', entityId: 'traced', payload: {} },
      { traceparent: `00-${traceId}-${callerSpanId}-01` },
    );
    expect([200, 202]).toContain(response.status);
    expect((await waitForTerminal(db.pool, 'traced-open')).status).toBe('succeeded');

    const spans = await waitUntil(
      () => exporter.getFinishedSpans(),
      (all) => all.some(applySpanOf('traced-open')),
      10_000,
      'the apply span to be exported',
    );
    const server = one(spans, 'server span', (s) => s.name === 'POST /v1/commands' && s.spanContext().traceId === traceId);
    const submit = one(spans, 'submit span', (s) => s.name === 'oncely.submit' && s.spanContext().traceId === traceId);
    const apply = one(spans, 'apply span', applySpanOf('traced-open'));
    const batch = one(spans, 'batch span', (s) => s.name === 'oncely.batch' && s.links.some((link) => link.context.spanId === submit.spanContext().spanId));

    // The caller's trace continues: caller -> server span -> oncely.submit -> (stored) -> oncely.apply.
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.parentSpanContext?.spanId).toBe(callerSpanId);
    expect(server.attributes['http.response.status_code']).toBe(response.status);
    expect(submit.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(await storedTraceParent('traced-open')).toBe(`00-${traceId}-${submit.spanContext().spanId}-01`);
    expect(apply.spanContext().traceId).toBe(traceId);
    expect(apply.parentSpanContext?.spanId).toBe(submit.spanContext().spanId);
    expect(apply.attributes).toMatchObject({
      'oncely.command.id': 'traced-open',
      'oncely.command.type': 'account.open',
      'oncely.command.attempt': 1,
      'oncely.command.status': 'succeeded',
    });

    // The batch is a trace of its own that links the submissions it carried, and each apply links back to it.
    expect(batch.links.find((link) => link.context.spanId === submit.spanContext().spanId)?.context.traceId).toBe(traceId);
    expect(batch.attributes['oncely.batch.size']).toBeGreaterThanOrEqual(1);
    expect(apply.links.map((link) => link.context.spanId)).toContain(batch.spanContext().spanId);
  });

  it('starts a trace for a request without traceparent, and links every command of a batch request', async () => {
    const response = await post(system, '/v1/commands/batch', {
      commands: [
        { id: 'traced-batch-open', type: 'account.open', entityId: 'traced-batch', payload: {} },
        { id: 'traced-batch-credit', type: 'account.credit', entityId: 'traced-batch', payload: { amount: 5 } },
      ],
    });
    expect(response.status).toBe(200);
    await waitForTerminal(db.pool, 'traced-batch-open');
    await waitForTerminal(db.pool, 'traced-batch-credit');

    const spans = await waitUntil(
      () => exporter.getFinishedSpans(),
      (all) => all.some(applySpanOf('traced-batch-open')) && all.some(applySpanOf('traced-batch-credit')),
      10_000,
      'both apply spans to be exported',
    );
    const server = one(spans, 'server span', (s) => s.name === 'POST /v1/commands/batch');
    expect(server.parentSpanContext).toBeUndefined();
    const submit = one(spans, 'submit span', (s) => s.name === 'oncely.submit' && s.parentSpanContext?.spanId === server.spanContext().spanId);
    expect(submit.attributes['oncely.submit.commands']).toBe(2);
    for (const id of ['traced-batch-open', 'traced-batch-credit']) {
      const apply = one(spans, `apply span of ${id}`, applySpanOf(id));
      expect(apply.spanContext().traceId).toBe(server.spanContext().traceId);
      expect(apply.parentSpanContext?.spanId).toBe(submit.spanContext().spanId);
      const batchSpanId = apply.links[0]?.context.spanId;
      const batch = one(spans, `batch span of ${id}`, (s) => s.name === 'oncely.batch' && s.spanContext().spanId === batchSpanId);
      expect(batch.links.some((link) => link.context.spanId === submit.spanContext().spanId && link.attributes?.['oncely.command.id'] === id)).toBe(true);
    }
  });

  it('shows every attempt of a failing command in its trace: retrying, then dead, each an error', async () => {
    const response = await post(system, '/v1/commands', { id: 'traced-poison', type: 'chaos.poison', entityId: 'poison', payload: {} });
    expect(response.status).toBe(202);
    expect((await waitForTerminal(db.pool, 'traced-poison')).status).toBe('dead');

    const spans = await waitUntil(
      () => exporter.getFinishedSpans().filter(applySpanOf('traced-poison')),
      (applies) => applies.some((s) => s.attributes['oncely.command.status'] === 'dead'),
      10_000,
      'the dead attempt to be exported',
    );
    const submit = one(exporter.getFinishedSpans(), 'submit span', (s) => s.name === 'oncely.submit' && s.attributes['oncely.command.id'] === 'traced-poison');
    const attempts = spans.map((s) => [s.attributes['oncely.command.attempt'], s.attributes['oncely.command.status'], s.status.code]).sort();
    expect(attempts).toEqual([
      [1, 'retrying', SpanStatusCode.ERROR],
      [2, 'dead', SpanStatusCode.ERROR],
    ]);
    for (const span of spans) {
      expect(span.parentSpanContext?.spanId).toBe(submit.spanContext().spanId);
      expect(span.attributes['oncely.command.error']).toBeTypeOf('string');
    }
  });

  it('writes the active trace and span ids into log lines', () => {
    const ids = trace.getTracer('test').startActiveSpan('logging', (span) => {
      log.info('inside a span');
      span.end();
      return span.spanContext();
    });
    log.info('outside any span');
    const inside = JSON.parse(lines.find((line) => line.includes('inside a span'))!) as Record<string, unknown>;
    const outside = JSON.parse(lines.find((line) => line.includes('outside any span'))!) as Record<string, unknown>;
    expect(inside).toMatchObject({ trace_id: ids.traceId, span_id: ids.spanId });
    expect(outside).not.toHaveProperty('trace_id');
  });
});

describe('tracing off (no OTEL_* variables)', () => {
  it('exports nothing and stores no trace context, even for a request that carries a traceparent', async () => {
    const exporter = new InMemorySpanExporter();
    const system = await startWith({}, exporter);
    try {
      const response = await post(
        system,
        '/v1/commands',
        { id: 'untraced-open', type: 'account.open', entityId: 'untraced', payload: {} },
        { traceparent: `00-${hex(16)}-${hex(8)}-01` },
      );
      expect([200, 202]).toContain(response.status);
      expect((await waitForTerminal(db.pool, 'untraced-open')).status).toBe('succeeded');
      expect(await storedTraceParent('untraced-open')).toBeNull();
      // No provider is registered: the API hands out non-recording spans.
      expect(trace.getTracer('test').startSpan('probe').isRecording()).toBe(false);
    } finally {
      await system.stop();
    }
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
