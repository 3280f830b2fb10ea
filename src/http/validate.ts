import type { Registry } from '../core/registry.ts';
import { checkIntake, versionOfEntityTag } from '../processor/intake.ts';
import type { NewCommand } from '../processor/submit.ts';
import { problem, type Problem } from './problem.ts';

export { versionOfEntityTag };

export type Checked = { ok: true; command: NewCommand } | { ok: false; problem: Problem };

export interface EnvelopeHeaders {
  /** The `Idempotency-Key` header, if any. */
  idempotencyKey?: string | undefined;
  /** The `If-Match` header, if any. */
  ifMatch?: string | undefined;
}

export function entityTagOf(version: number): string {
  return `"${version}"`;
}

/** One raw envelope from an HTTP request: the transport-neutral intake (processor/intake.ts), refusals as problems. */
export function checkEnvelope(raw: unknown, registry: Registry, headers: EnvelopeHeaders = {}): Checked {
  const intake = checkIntake(raw, registry, { key: headers.idempotencyKey, ifMatch: headers.ifMatch });
  if (intake.ok) return intake;
  const { reason, detail, errors, extra } = intake;
  return { ok: false, problem: problem(reason, detail, { ...(errors ? { errors } : {}), ...extra }) };
}
