// POST /v1/commands/batch: per-item outcomes in request order, one bad envelope stops nothing else, duplicate
// ids inside one batch, and 1000 commands in a handful of round trips instead of thousands.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { watchQueries } from '../helpers/queries.ts';

// No worker: the rows and jobs a batch writes stay exactly as it wrote them.
const { db, system: api } = useTestSystem({ roles: { api: true, worker: false } });

const client = () => createClient({ baseUrl: 'http://oncely.test', fetch: (url, init) => Promise.resolve(api.app!.request(url, init)) });
const postBatch = (body: unknown) =>
  Promise.resolve(api.app!.request('/v1/commands/batch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));

async function counts(prefix: string): Promise<{ commands: number; jobs: number }> {
  const commands = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id LIKE $1`, [`${prefix}%`]);
  // A job carries one command, or several stored together ({ commands: [...] }): count the commands jobs carry.
  const jobs = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pgboss.job j,
       jsonb_array_elements(CASE WHEN j.data ? 'commands' THEN j.data->'commands' ELSE jsonb_build_array(j.data) END) AS c(ref)
     WHERE j.name = 'oncely-commands' AND c.ref->>'id' LIKE $1`,
    [`${prefix}%`],
  );
  return { commands: commands.rows[0]?.n ?? -1, jobs: jobs.rows[0]?.n ?? -1 };
}

/** Counts the statements oncely's own pools send (application_name 'oncely' and 'oncely-submit'), however they are issued. */
function countQueries(): { stop(): number } {
  let n = 0;
  const restore = watchQueries((client: pg.Client & { connectionParameters?: { application_name?: string } }) => {
    // The api's pool and its submission pool (where submission transactions run).
    const name = client.connectionParameters?.application_name;
    if (name === 'oncely' || name === 'oncely-submit') n++;
  });
  return {
    stop() {
      restore();
      return n;
    },
  };
}

describe('POST /v1/commands/batch', () => {
  it('answers each envelope in request order; bad ones are rejected alone', async () => {
    await client().submit({ id: 'b-existing', type: 'account.open', entityId: 'bx', payload: {} });
    const results = await client().batch([
      { id: 'b-1', type: 'account.open', entityId: 'b1', payload: {} },
      { id: 'b-2', type: 'account.nope', entityId: 'b2', payload: {} },
      { id: 'b-existing', type: 'account.open', entityId: 'bx', payload: {} },
      { id: 'b-3', type: 'account.credit', entityId: 'b1', payload: { amount: -5 } },
      { id: 'b-4', type: 'account.credit', entityId: 'b1', payload: { amount: 5 } },
      { id: 'b-4', type: 'account.credit', entityId: 'b1', payload: { amount: 5 } },
      { id: 'b-5', type: 'account.open', entityId: 'b5', payload: {} },
      { id: 'b-5', type: 'account.open', entityId: 'b5-other', payload: {} },
      { type: 'account.open', entityId: 'b6', payload: {} } as never,
      { id: 'b-existing', type: 'account.open', entityId: 'changed', payload: {} },
      'not an envelope' as never,
    ]);
    expect(results.map((r) => [r.id, r.outcome, r.problem?.code ?? r.status?.status])).toEqual([
      ['b-1', 'accepted', 'queued'],
      ['b-2', 'rejected', 'unknown_command_type'],
      ['b-existing', 'duplicate', 'queued'],
      ['b-3', 'rejected', 'invalid_payload'],
      ['b-4', 'accepted', 'queued'],
      ['b-4', 'duplicate', 'queued'],
      ['b-5', 'accepted', 'queued'],
      ['b-5', 'rejected', 'idempotency_key_reused'],
      [null, 'rejected', 'idempotency_key_missing'],
      ['b-existing', 'rejected', 'idempotency_key_reused'],
      [null, 'rejected', 'invalid_request'],
    ]);
    for (const result of results.filter((r) => r.problem)) {
      expect(result.problem).toMatchObject({ type: expect.any(String), title: expect.any(String), status: expect.any(Number), detail: expect.any(String) });
    }
    expect(await counts('b-')).toEqual({ commands: 4, jobs: 4 });
    const stored = await db.pool.query(`SELECT id, entity_id FROM oncely.commands WHERE id IN ('b-5', 'b-existing') ORDER BY id`);
    expect(stored.rows).toEqual([
      { id: 'b-5', entity_id: 'b5' },
      { id: 'b-existing', entity_id: 'bx' },
    ]);
  });

  it('refuses a body that is not 1 to 1000 envelopes as a whole: 400 invalid_request, nothing stored', async () => {
    const one = { id: 'bz-1', type: 'account.open', entityId: 'bz', payload: {} };
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ ...one, id: `bz-${i}` }));
    for (const body of [{ commands: [] }, { commands: tooMany }, { commands: one }, [one], { commands: [one], extra: 1 }, null]) {
      const res = await postBatch(body);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as { code: string }).code).toBe('invalid_request');
    }
    expect(await counts('bz-')).toEqual({ commands: 0, jobs: 0 });
  });

  it('stores 1000 commands in one transaction of a few statements, faster than 250 single submissions', async () => {
    const batch = Array.from({ length: 1000 }, (_, i) => ({ id: `bulk-${i}`, type: 'account.open', entityId: `bulk-${i}`, payload: {} }));
    let counter = countQueries();
    let started = performance.now();
    const res = await postBatch({ commands: batch });
    const batchMs = performance.now() - started;
    const batchQueries = counter.stop();
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: { id: string; outcome: string }[] };
    expect(results.map((r) => r.id)).toEqual(batch.map((c) => c.id));
    expect(results.every((r) => r.outcome === 'accepted')).toBe(true);
    expect(await counts('bulk-')).toEqual({ commands: 1000, jobs: 1000 });

    // 250 single submissions are enough to show the per-command cost without keeping the test busy for long.
    const singles = batch.slice(0, 250).map((c) => ({ ...c, id: `single-${c.id}`, entityId: `single-${c.entityId}` }));
    counter = countQueries();
    started = performance.now();
    for (const command of singles) {
      const one = await Promise.resolve(
        api.app!.request('/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(command) }),
      );
      expect(one.status).toBe(202);
    }
    const singlesMs = performance.now() - started;
    const singleQueries = counter.stop();
    expect(await counts('single-')).toEqual({ commands: 250, jobs: 250 });

    console.log(
      `batch of 1000: ${batchQueries} statements, ${batchMs.toFixed(0)} ms; 250 single submissions: ${singleQueries} statements, ${singlesMs.toFixed(0)} ms (x4 for 1000)`,
    );
    // BEGIN, the one INSERT ... jsonb_to_recordset that writes the commands and their pg-boss jobs, COMMIT.
    expect(batchQueries).toBeLessThanOrEqual(3);
    expect(singleQueries).toBeGreaterThanOrEqual(3 * 250);
    expect(batchMs).toBeLessThan(singlesMs);
  });
});
