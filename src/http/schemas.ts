// The wire shapes of the HTTP API, as zod schemas. The server validates with them, the OpenAPI document is
// generated from them and the typed client parses responses with them: one definition of each.
import { z } from 'zod';
import { CommandError, CommandStatus as CoreCommandStatus, Envelope, Identifier } from '../core/envelope.ts';
import type { Registry } from '../core/registry.ts';
import { ProblemSchema } from './problem.ts';

export const MAX_BODY_BYTES = 256 * 1024;
export const MAX_BATCH = 1000;
export const MAX_WAIT_SECONDS = 30;

export const CommandErrorSchema = CommandError.meta({ id: 'CommandError', description: 'Why a command did not succeed.' });

export const CommandStatusSchema = CoreCommandStatus.extend({ error: CommandErrorSchema.nullable() }).meta({
  id: 'CommandStatus',
  description: 'A stored command and its outcome. `queued` and `retrying` are in flight; `succeeded`, `rejected`, `conflict` and `dead` are terminal.',
});

const timestamp = z.iso.datetime();
// The domains' entity schemas live in each domain (src/domains/*/schemas.ts), next to its model.

export const DeadLetterPageSchema = z
  .object({ items: z.array(CommandStatusSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'DeadLetterPage', description: 'Dead commands oldest first; pass `nextCursor` as `cursor` for the next page.' });

const count = z.number().int().min(0);
const seconds = z.number().min(0).nullable();

export const StatsSchema = z
  .object({
    at: timestamp.describe("The database's clock when the figures were read."),
    windowSeconds: z.number().int().describe('How far back `throughput` and `outcomes` reach.'),
    bucketSeconds: z.number().int().describe('Width of one `throughput` bucket.'),
    throughput: z
      .array(z.object({ at: timestamp.describe('Start of the bucket.'), submitted: count, succeeded: count, rejected: count, conflict: count, dead: count }))
      .describe('Commands submitted, and commands ended by outcome (by `completedAt`), per bucket; oldest first, zero-filled.'),
    outcomes: z.object({ succeeded: count, rejected: count, conflict: count, dead: count }).describe('Commands ended within the window, by outcome.'),
    rates: z
      .object({ windowSeconds: z.number().int(), submittedPerSecond: z.number().min(0), completedPerSecond: z.number().min(0) })
      .describe('Submissions and completions per second over the last few seconds.'),
    latency: z
      .object({ windowSeconds: z.number().int(), count, p50: seconds, p90: seconds, p99: seconds })
      .describe('Percentiles of `completedAt - submittedAt` in seconds over the commands ended within `windowSeconds` (null when none).'),
    queue: z
      .object({
        queued: count,
        retrying: count,
        depth: count.describe('queued + retrying: commands not yet ended.'),
        oldestQueuedSeconds: seconds.describe('Age of the oldest command not yet ended, since its submission (null when none).'),
      })
      .describe("Every client's commands in flight."),
    deadLetters: z.object({
      count: count.describe("Every client's dead commands."),
      newest: z.array(CommandStatusSchema).describe("The caller's own newest dead commands, newest first (at most 10)."),
    }),
    duplicates: z
      .object({
        scope: z.literal('process').describe("Counters are per process: these are the answering api process's since it started."),
        counted: z.boolean().describe('Whether this process has the `oncely_duplicates_absorbed_total` counter.'),
        knownStages: z.array(z.string()).describe('The stages the counter has reported in this process.'),
        byStage: z
          .record(z.string(), z.number().min(0))
          .describe('Duplicates absorbed per stage (resubmission, in_request, redelivery, broker, inbox); 0 when not counted.'),
      })
      .describe('Duplicates absorbed instead of applied twice; a rate is the difference of two reads over the time between them.'),
  })
  .meta({
    id: 'Stats',
    description:
      'Live figures for `/dashboard`, from the database (in flight, recent throughput, outcomes and latency, dead letters) and from the answering process (duplicates). Read at most once a second and shared.',
  });

export const BatchOutcome = z.enum(['accepted', 'duplicate', 'rejected']);

export const BatchResultSchema = z
  .object({
    id: z.string().nullable().describe('The item id, or null when the item carries no usable id.'),
    outcome: BatchOutcome.describe('accepted: stored and queued now; duplicate: this id was already stored with the same request; rejected: see problem.'),
    status: CommandStatusSchema.optional(),
    problem: ProblemSchema.optional(),
  })
  .meta({ id: 'BatchResult' });

export const BatchResponseSchema = z.object({ results: z.array(BatchResultSchema).describe('One result per envelope, in request order.') }).meta({ id: 'BatchResponse' });

/** The batch body; `item` is `z.unknown()` to validate (each envelope is checked on its own) and the envelope union to document. */
export function batchRequestSchema<T extends z.ZodType>(item: T) {
  return z.strictObject({ commands: z.array(item).min(1).max(MAX_BATCH) });
}

/** One envelope variant per registered type, with that type's own payload schema. */
export function submitBodySchema(registry: Registry): z.ZodType {
  const variants = registry.definitions().map((definition) => {
    // A payload that accepts `{}` may be left out: the envelope defaults it to `{}`.
    const payload = definition.payload.safeParse({}).success ? definition.payload.optional() : definition.payload;
    return Envelope.extend({ type: z.literal(definition.type), payload }).meta({ title: definition.type, description: definition.summary });
  });
  const [first, ...rest] = variants;
  if (!first) return Envelope;
  return rest.length === 0 ? first : z.discriminatedUnion('type', [first, ...rest]);
}

/** A positive integer query parameter, given as text. */
const countParam = (max: number, fallback: number) =>
  z
    .string()
    // abort: a value that is not a number at all is one error, not also "too big".
    .regex(/^[1-9]\d{0,5}$/, { message: `must be a whole number from 1 to ${max}`, abort: true })
    .refine((text) => Number(text) <= max, `must be a whole number from 1 to ${max}`)
    .optional()
    .describe(`1 to ${max}, default ${fallback}.`);

const cursorParam = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,1024}$/, 'must be a cursor returned by an earlier page')
  .optional()
  .describe('`nextCursor` of the previous page.');

export const PageQuery = (max: number, fallback: number) => z.object({ limit: countParam(max, fallback), cursor: cursorParam });

export const IdParam = z.object({ id: Identifier.describe('1 to 128 characters of A-Z a-z 0-9 . _ : -') });

export const WaitHeaders = z.object({
  Prefer: z.string().optional().describe(`\`wait=N\` with 0 < N <= ${MAX_WAIT_SECONDS}: hold the response until the command is terminal or N seconds pass.`),
});

export const SubmitHeaders = WaitHeaders.extend({
  'Idempotency-Key': Identifier.optional().describe('The command id, if the body does not carry it (both given: they must be equal).'),
  'If-Match': z.string().optional().describe('An entity tag `"N"` from an entity read: taken as `expectedVersion` (both given: they must agree).'),
});

export type CommandStatus = z.infer<typeof CommandStatusSchema>;
export type DeadLetterPage = z.infer<typeof DeadLetterPageSchema>;
export type BatchResult = z.infer<typeof BatchResultSchema>;
export type BatchResponse = z.infer<typeof BatchResponseSchema>;
export type Stats = z.infer<typeof StatsSchema>;
