import { expect } from 'vitest';
import type { AnyRead, Domain, ReadContext } from '../../src/core/domain.ts';
import { isTerminal, type CommandStatus } from '../../src/core/envelope.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import type { System } from '../../src/system.ts';
import type { TestDatabase } from './db.ts';
import { waitForTerminal } from './system.ts';

export interface Body {
  id: string;
  type: string;
  entityId: string;
  expectedVersion?: number;
  payload?: Record<string, unknown>;
}

/** HTTP helpers over a test system's app (no server); `current` is read at call time, after beforeAll. */
export function httpHelpers(current: () => { system: System; db: TestDatabase }) {
  /** Submits over HTTP and returns the command once it is terminal. */
  async function run(body: Body): Promise<CommandStatus> {
    const { system, db } = current();
    const res = await system.app!.request('/v1/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'wait=10' },
      body: JSON.stringify({ payload: {}, ...body }),
    });
    expect([200, 202]).toContain(res.status);
    const status = (await res.json()) as CommandStatus;
    return isTerminal(status.status) ? status : waitForTerminal(db.pool, body.id);
  }

  async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await current().system.app!.request(path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  return { run, get };
}

/**
 * The reference domains' routes with every read answered by `answer` instead of a database: for an app
 * built by hand (createApp) in a test. Spread into createApp's deps.
 */
export function stubReads(answer: (read: AnyRead) => Promise<unknown> = () => Promise.resolve(null)): { domains: Pick<Domain, 'reads'>[]; readContext: ReadContext } {
  return {
    domains: referenceDomains.map((domain) => ({ reads: domain.reads.map((read) => ({ ...read, read: () => answer(read) }) as AnyRead) })),
    readContext: { db: undefined as never, sql: { query: () => Promise.reject(new Error('this app has no database')) } },
  };
}
