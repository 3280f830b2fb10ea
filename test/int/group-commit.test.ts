// Group-committed submission: concurrent POSTs share transactions, yet each is answered exactly as it would
// be had the requests run one after another (modulo which of two identical concurrent requests came first).
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/core/fingerprint.ts';
import { useTestSystem } from '../helpers/fixture.ts';

// No worker: commands stay queued, so every answer is about submission alone.
const { db, system } = useTestSystem({ roles: { api: true, worker: false } });

interface Sent {
  id: string;
  type: string;
  entityId: string;
  payload: Record<string, unknown>;
}

interface Answer {
  sent: Sent;
  status: number;
  replayed: boolean;
  code: unknown;
  storedId: unknown;
}

/** 200 requests over 80 ids: some sent once, some repeated with the same body, some reused with another body. */
function requests(prefix: string): Sent[] {
  const list: Sent[] = [];
  for (let k = 0; k < 80; k++) {
    const id = `${prefix}-${k}`;
    const body = (amount: number): Sent => ({ id, type: 'account.credit', entityId: `${prefix}-acc-${k % 7}`, payload: { amount } });
    list.push(body(100 + k));
    if (k % 4 === 1) list.push(body(100 + k), body(100 + k)); // duplicates
    if (k % 4 === 2) list.push(body(900 + k), body(100 + k)); // a reused key, and a duplicate of the first body
    if (k % 4 === 3) list.push(body(900 + k), body(800 + k), body(900 + k)); // reused keys, one of them twice
  }
  const extra = 200 - list.length;
  for (let k = 0; k < extra; k++) list.push({ ...list[k % 40]! });
  return list;
}

async function post(sent: Sent): Promise<Answer> {
  const res = await system.app!.request('/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sent) });
  const body = (await res.json()) as Record<string, unknown>;
  return { sent, status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true', code: body['code'], storedId: body['id'] };
}

const printOf = (sent: Sent) => fingerprint({ type: sent.type, entityId: sent.entityId, expectedVersion: undefined, payload: sent.payload });

/**
 * The rule sequential submission follows, given which body was stored for each id: exactly one request with
 * the stored body is the new command (202, not replayed), the other requests with that body are replays
 * (202, Idempotent-Replayed), and every request with another body is refused 422 idempotency_key_reused.
 */
async function expectAnswersOfOneAfterAnother(answers: readonly Answer[]): Promise<void> {
  const ids = [...new Set(answers.map((a) => a.sent.id))];
  const { rows } = await db.pool.query<{ id: string; fingerprint: string; n: number }>(
    `SELECT id, fingerprint, count(*) OVER (PARTITION BY id)::int AS n FROM oncely.commands WHERE id = ANY($1::text[])`,
    [ids],
  );
  const stored = new Map(rows.map((row) => [row.id, row]));
  for (const id of ids) {
    const row = stored.get(id);
    const mine = answers.filter((a) => a.sent.id === id);
    expect(row, `command ${id} is stored`).toBeDefined();
    expect(row!.n, `command ${id} is stored once`).toBe(1);
    expect(
      mine.map((a) => printOf(a.sent)),
      `command ${id} stores one of the bodies sent`,
    ).toContain(row!.fingerprint);
    const same = mine.filter((a) => printOf(a.sent) === row!.fingerprint);
    const other = mine.filter((a) => printOf(a.sent) !== row!.fingerprint);
    expect(
      same.map((a) => a.status),
      id,
    ).toEqual(same.map(() => 202));
    expect(
      same.map((a) => a.storedId),
      id,
    ).toEqual(same.map(() => id));
    expect(same.filter((a) => !a.replayed).length, `one request for ${id} is the new command`).toBe(1);
    expect(
      other.map((a) => [a.status, a.code]),
      id,
    ).toEqual(other.map(() => [422, 'idempotency_key_reused']));
  }
}

describe('group-committed submission', () => {
  it('answers 200 concurrent POSTs with duplicates and reused keys as 200 sequential ones, in fewer transactions than commands', async () => {
    const sequential: Answer[] = [];
    for (const sent of requests('seq')) sequential.push(await post(sent));
    await expectAnswersOfOneAfterAnother(sequential);
    // One after another, the stored body is always the first one sent.
    const firstBody = new Map<string, string>();
    for (const a of sequential) if (!firstBody.has(a.sent.id)) firstBody.set(a.sent.id, printOf(a.sent));
    const { rows: seqRows } = await db.pool.query<{ id: string; fingerprint: string }>(`SELECT id, fingerprint FROM oncely.commands WHERE id LIKE 'seq-%'`);
    expect(seqRows.every((row) => firstBody.get(row.id) === row.fingerprint)).toBe(true);

    const concurrent = await Promise.all(requests('con').map(post));
    await expectAnswersOfOneAfterAnother(concurrent);
    // Rows written by one transaction share its xmin: the concurrent commands took far fewer transactions than
    // the 80 they would one request at a time. Each command's job was committed in its command's transaction.
    const { rows } = await db.pool.query<{ commands: number; transactions: number; jobs_alone: number }>(
      `SELECT count(*)::int AS commands, count(DISTINCT c.xmin::text)::int AS transactions,
              count(*) FILTER (WHERE j.n IS DISTINCT FROM 1)::int AS jobs_alone
       FROM oncely.commands c
       LEFT JOIN LATERAL (
         SELECT count(*)::int AS n FROM pgboss.job j
         WHERE (j.data->>'id' = c.id OR j.data->'commands' @> jsonb_build_array(jsonb_build_object('id', c.id)))
           AND j.xmin::text = c.xmin::text
       ) j ON true
       WHERE c.id LIKE 'con-%'`,
    );
    const figures = rows[0]!;
    expect(figures.commands).toBe(80);
    expect(figures.jobs_alone).toBe(0);
    expect(figures.transactions).toBeLessThanOrEqual(20);
  });

  it('keeps a batch whole when it goes through the group commit alongside single POSTs', async () => {
    const batch = Array.from({ length: 30 }, (_, k) => ({ id: `gb-${k % 25}`, type: 'account.open', entityId: `gb-acc-${k % 25}`, payload: {} }));
    const [batchRes, ...singles] = await Promise.all([
      system.app!.request('/v1/commands/batch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ commands: batch }) }),
      ...Array.from({ length: 10 }, (_, k) => post({ id: `gb-${k}`, type: 'account.open', entityId: `gb-acc-${k}`, payload: {} })),
    ]);
    expect(batchRes.status).toBe(200);
    const { results } = (await batchRes.json()) as { results: { id: string; outcome: string }[] };
    expect(results.map((r) => r.outcome).slice(25)).toEqual(Array.from({ length: 5 }, () => 'duplicate'));
    // gb-0..gb-9 were sent twice (batch and single): exactly one of the two was the new command.
    for (let k = 0; k < 10; k++) {
      const single = singles[k]!;
      expect(single.status).toBe(202);
      expect(Number(results[k]!.outcome === 'accepted') + Number(!single.replayed)).toBe(1);
    }
    expect(results.slice(10, 25).every((r) => r.outcome === 'accepted')).toBe(true);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id LIKE 'gb-%'`);
    expect(rows[0]!.n).toBe(25);
  });
});
