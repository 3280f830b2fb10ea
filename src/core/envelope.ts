import { z } from 'zod';

/**
 * The alphabet of command ids and entity ids (CONTRACT section 2).
 *
 * @example
 * const payload = z.strictObject({ orderId: Identifier });
 */
export const Identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -');

/**
 * Money: an integer number of minor units (cents). Never a float.
 *
 * @example
 * const payload = z.strictObject({ amount: Amount });
 */
export const Amount = z.number().int().min(1).max(1_000_000_000_000);

/** The envelope as it arrives, before its payload is checked against the type's schema. */
export const Envelope = z
  .object({
    id: Identifier.optional(),
    type: z.string().min(1).max(128),
    entityId: Identifier,
    expectedVersion: z.number().int().min(0).max(2_147_483_647).optional(),
    payload: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type Envelope = z.infer<typeof Envelope>;

/** An envelope whose id is settled and whose payload passed its type's schema. */
export interface Command<P = unknown> {
  clientId: string;
  id: string;
  type: string;
  entityId: string;
  expectedVersion: number | undefined;
  payload: P;
}

export const COMMAND_STATUSES = ['queued', 'retrying', 'succeeded', 'rejected', 'conflict', 'dead'] as const;
export type CommandStatusName = (typeof COMMAND_STATUSES)[number];
export const TERMINAL_STATUSES: ReadonlySet<CommandStatusName> = new Set(['succeeded', 'rejected', 'conflict', 'dead']);

/**
 * Whether a status is final: succeeded, rejected, conflict or dead.
 *
 * @example
 * if (isTerminal(status.status)) return status;
 */
export function isTerminal(status: CommandStatusName): boolean {
  return TERMINAL_STATUSES.has(status);
}

export const CommandError = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type CommandError = z.infer<typeof CommandError>;

/** What a client reads back about a command (CONTRACT section 3). */
export const CommandStatus = z.object({
  id: z.string(),
  type: z.string(),
  entityId: z.string(),
  expectedVersion: z.number().int().nullable(),
  status: z.enum(COMMAND_STATUSES),
  attempts: z.number().int(),
  result: z.unknown().nullable(),
  error: CommandError.nullable(),
  submittedAt: z.string(),
  updatedAt: z.string(),
  completedAt: z.string().nullable(),
});
export type CommandStatus = z.infer<typeof CommandStatus>;
