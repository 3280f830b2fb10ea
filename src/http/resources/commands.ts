import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { Identifier, isTerminal } from '../../core/envelope.ts';
import type { Registry } from '../../core/registry.ts';
import type { Metrics } from '../../metrics/registry.ts';
import type { CommandService } from '../../processor/commands.ts';
import type { AppEnv } from '../deps.ts';
import { needs } from '../middleware/authenticate.ts';
import { bodyOf, jsonBody } from '../middleware/json-body.ts';
import { fieldErrors, problem, sendProblem } from '../problem.ts';
import { createResource, serve, serveChecked } from '../resource.ts';
import type { Routes } from '../routes.ts';
import { batchRequestSchema } from '../schemas.ts';
import { checkEnvelope } from '../validate.ts';
import type { BeginWait } from '../waits.ts';

export interface CommandsOptions {
  routes: Routes;
  registry: Registry;
  commands: CommandService;
  metrics: Metrics;
  beginWait: BeginWait;
}

const location = (id: string) => `/v1/commands/${encodeURIComponent(id)}`;

/** A submission refused before it reached the command service: counted by its type if that is registered, else "unknown". */
const typeOf = (raw: unknown) => (typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined);

// A batch's own shape, whatever its items: a batch whose only faults are in its items is still served.
const batchShape = batchRequestSchema(z.unknown());

/**
 * `/v1/commands`: submit one, submit a batch, read one (with `Prefer: wait`), replay a dead one.
 *
 * The submission body is declared per command type (the registry's envelope union) for the document, and
 * checked once, by the intake (src/processor/intake.ts, shared with the inboxes and `submit()`): it accepts
 * nothing the declaration refuses, and also settles the id against `Idempotency-Key`, `If-Match` against
 * `expectedVersion`, the nesting depth and the text PostgreSQL can store, naming each refusal's reason in the
 * order of the contract's table, so every refusal is the most specific one.
 *
 * @example
 * app.route('/', commandsResource({ routes, registry, commands, metrics, beginWait }));
 */
export function commandsResource(options: CommandsOptions): OpenAPIHono<AppEnv> {
  const { routes, registry, commands, metrics, beginWait } = options;
  const app = createResource('no command with this id');

  const envelopeOf = (c: Context<AppEnv>) => checkEnvelope(bodyOf(c), registry, { idempotencyKey: c.req.header('idempotency-key'), ifMatch: c.req.header('if-match') });

  serveChecked(app, { ...routes.submitCommand, middleware: [needs('submit'), ...jsonBody(() => metrics.submitted(undefined, 'rejected'))] }, async (c) => {
    const checked = envelopeOf(c);
    if (!checked.ok) {
      metrics.submitted(typeOf(bodyOf(c)), 'rejected');
      return sendProblem(c, checked.problem);
    }
    // Begun before the submission, so the status it answers with needs no second read before waiting.
    const wait = beginWait(c, checked.command.id);
    const [submission] = await commands.submit(c.get('clientId'), [checked.command]).catch((err: unknown) => {
      wait.release();
      throw err;
    });
    if (submission?.outcome !== 'accepted' && submission?.outcome !== 'duplicate') wait.release();
    if (!submission) throw new Error('submission returned nothing');
    if (submission.outcome === 'reused') {
      return sendProblem(c, problem('idempotency_key_reused', `command ${checked.command.id} was already submitted with a different request`));
    }
    const { status, waited } = await wait.settle(submission.status);
    const headers: Record<string, string> = { location: location(status.id) };
    if (waited !== undefined) headers['preference-applied'] = `wait=${waited}`;
    if (submission.outcome === 'duplicate') headers['idempotent-replayed'] = 'true';
    return c.json(status, isTerminal(status.status) ? 200 : 202, headers);
  });

  /** Each envelope is checked on its own: one bad envelope rejects only itself. */
  async function submitBatch(c: Context<AppEnv>, list: unknown[]): Promise<Response> {
    const checked = list.map((item) => checkEnvelope(item, registry));
    const valid = checked.flatMap((item) => (item.ok ? [item.command] : []));
    const submissions = valid.length > 0 ? await commands.submit(c.get('clientId'), valid) : [];
    let next = 0;
    const results = checked.map((item, i) => {
      if (!item.ok) {
        metrics.submitted(typeOf(list[i]), 'rejected');
        const raw = list[i] as { id?: unknown } | null;
        const id = typeof raw === 'object' && raw !== null && Identifier.safeParse(raw.id).success ? (raw.id as string) : null;
        return { id, outcome: 'rejected' as const, problem: item.problem };
      }
      const submission = submissions[next++];
      if (!submission) throw new Error('batch submission lost an item');
      if (submission.outcome === 'reused') {
        const reused = problem('idempotency_key_reused', `command ${item.command.id} was already submitted with a different request`);
        return { id: item.command.id, outcome: 'rejected' as const, problem: reused };
      }
      return { id: item.command.id, outcome: submission.outcome, status: submission.status };
    });
    return c.json({ results }, 200);
  }

  /** A bad shape is refused whole, bad items each on their own. */
  serveChecked(app, { ...routes.submitBatch, middleware: [needs('submit'), ...jsonBody()] }, (c) => {
    const shape = batchShape.safeParse(bodyOf(c));
    if (shape.success) return submitBatch(c, shape.data.commands);
    return sendProblem(c, problem('invalid_request', 'the body must be { "commands": [...] } with 1 to 1000 envelopes', { errors: fieldErrors(shape.error.issues) }));
  });

  serve(app, { ...routes.getCommand, middleware: [needs('read')] }, async (c) => {
    const id = c.req.param('id') ?? '';
    const wait = beginWait(c, id);
    const status = await commands.get(c.get('clientId'), id).catch((err: unknown) => {
      wait.release();
      throw err;
    });
    if (!status) {
      wait.release();
      return sendProblem(c, problem('not_found', 'no command with this id'));
    }
    const waited = await wait.settle(status);
    const headers: Record<string, string> = {};
    if (waited.waited !== undefined) headers['preference-applied'] = `wait=${waited.waited}`;
    return c.json(waited.status, 200, headers);
  });

  serve(app, { ...routes.replayCommand, middleware: [needs('operate')] }, async (c) => {
    const replay = await commands.replay(c.get('clientId'), c.req.param('id') ?? '');
    if (replay.outcome === 'not_found') return sendProblem(c, problem('not_found', 'no command with this id'));
    if (replay.outcome === 'not_dead') {
      return sendProblem(c, problem('not_dead', `the command is ${replay.status.status}; only a dead command can be replayed`, { commandStatus: replay.status.status }));
    }
    return c.json(replay.status, 202, { location: location(replay.status.id) });
  });

  return app;
}
