import { Envelope, Identifier } from '../core/envelope.ts';
import { checkPayload, type Registry } from '../core/registry.ts';
import type { NewCommand } from '../processor/submit.ts';
import { fieldErrors, problem, type Problem } from './problem.ts';

export type Checked = { ok: true; command: NewCommand } | { ok: false; problem: Problem };

/**
 * Turns one raw envelope into a command ready to store, or the problem that rejects it.
 * `headerKey` is the Idempotency-Key header, if any.
 */
export function checkEnvelope(raw: unknown, registry: Registry, headerKey?: string): Checked {
  if (headerKey !== undefined) {
    const key = Identifier.safeParse(headerKey);
    if (!key.success) {
      return { ok: false, problem: problem('invalid_request', 'the Idempotency-Key header is not a valid id', { errors: fieldErrors(key.error.issues, 'Idempotency-Key') }) };
    }
  }
  const parsed = Envelope.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problem: problem('invalid_request', 'the command envelope is not valid', { errors: fieldErrors(parsed.error.issues) }) };
  }
  const envelope = parsed.data;
  if (headerKey !== undefined && envelope.id !== undefined && headerKey !== envelope.id) {
    return { ok: false, problem: problem('idempotency_key_mismatch', 'the Idempotency-Key header and the body id differ') };
  }
  const id = envelope.id ?? headerKey;
  if (id === undefined) {
    return { ok: false, problem: problem('idempotency_key_missing', 'give the command id in the body or in the Idempotency-Key header') };
  }
  const checked = checkPayload(registry, envelope.type, envelope.payload);
  if (!checked.ok) {
    if (checked.reason === 'unknown_command_type') {
      return {
        ok: false,
        problem: problem('unknown_command_type', `unknown command type ${JSON.stringify(envelope.type.slice(0, 128))}`, { knownTypes: registry.types }),
      };
    }
    return { ok: false, problem: problem('invalid_payload', `the payload does not fit ${envelope.type}`, { errors: fieldErrors(checked.issues, 'payload') }) };
  }
  return {
    ok: true,
    command: { id, type: envelope.type, entityId: envelope.entityId, expectedVersion: envelope.expectedVersion, payload: envelope.payload },
  };
}
