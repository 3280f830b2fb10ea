import { Envelope, Identifier } from '../core/envelope.ts';
import { checkPayload, type Registry } from '../core/registry.ts';
import type { NewCommand } from '../processor/submit.ts';
import { fieldErrors, problem, type Problem } from './problem.ts';

export type Checked = { ok: true; command: NewCommand } | { ok: false; problem: Problem };

export interface EnvelopeHeaders {
  /** The `Idempotency-Key` header, if any. */
  idempotencyKey?: string | undefined;
  /** The `If-Match` header, if any. */
  ifMatch?: string | undefined;
}

/** `"3"` (or `W/"3"`) as version 3; anything else (`*`, lists, junk) is not a version. */
export function versionOfEntityTag(tag: string): number | undefined {
  const match = /^\s*(?:W\/)?"(\d{1,10})"\s*$/.exec(tag);
  const version = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  return Number.isSafeInteger(version) && version <= 2_147_483_647 ? version : undefined;
}

export function entityTagOf(version: number): string {
  return `"${version}"`;
}

const invalid = (detail: string, path: string, message: string): Checked => ({
  ok: false,
  problem: problem('invalid_request', detail, { errors: [{ path, message }] }),
});

/**
 * Turns one raw envelope into a command ready to store, or the problem that rejects it. The checks run in
 * the order of the contract's table, so each bad request gets the most specific code.
 */
export function checkEnvelope(raw: unknown, registry: Registry, headers: EnvelopeHeaders = {}): Checked {
  const { idempotencyKey, ifMatch } = headers;
  if (idempotencyKey !== undefined && !Identifier.safeParse(idempotencyKey).success) {
    return invalid('the Idempotency-Key header is not a valid id', 'Idempotency-Key', 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -');
  }
  const matchVersion = ifMatch === undefined ? undefined : versionOfEntityTag(ifMatch);
  if (ifMatch !== undefined && matchVersion === undefined) {
    return invalid('If-Match must be one entity tag such as "3", taken as expectedVersion', 'If-Match', 'must be a single entity tag "N"');
  }
  const parsed = Envelope.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problem: problem('invalid_request', 'the command envelope is not valid', { errors: fieldErrors(parsed.error.issues) }) };
  }
  const envelope = parsed.data;
  if (idempotencyKey !== undefined && envelope.id !== undefined && idempotencyKey !== envelope.id) {
    return { ok: false, problem: problem('idempotency_key_mismatch', 'the Idempotency-Key header and the body id differ') };
  }
  const id = envelope.id ?? idempotencyKey;
  if (id === undefined) {
    return { ok: false, problem: problem('idempotency_key_missing', 'give the command id in the body or in the Idempotency-Key header') };
  }
  if (matchVersion !== undefined && envelope.expectedVersion !== undefined && matchVersion !== envelope.expectedVersion) {
    return {
      ok: false,
      problem: problem('version_mismatch', `If-Match names version ${matchVersion} but expectedVersion is ${envelope.expectedVersion}`, {
        ifMatch: matchVersion,
        expectedVersion: envelope.expectedVersion,
      }),
    };
  }
  const checked = checkPayload(registry, envelope.type, envelope.payload);
  if (!checked.ok) {
    if (checked.reason === 'unknown_command_type') {
      return {
        ok: false,
        problem: problem('unknown_command_type', `unknown command type ${JSON.stringify(envelope.type)}`, { knownTypes: registry.types }),
      };
    }
    return { ok: false, problem: problem('invalid_payload', `the payload does not fit ${envelope.type}`, { errors: fieldErrors(checked.issues, 'payload') }) };
  }
  const unstorable = unstorablePath(envelope.payload);
  if (unstorable !== undefined) {
    return {
      ok: false,
      problem: problem('invalid_payload', 'the payload holds text PostgreSQL cannot store', {
        errors: [{ path: ['payload', ...unstorable].join('.'), message: 'must not contain U+0000 or unpaired surrogates' }],
      }),
    };
  }
  return {
    ok: true,
    command: {
      id,
      type: envelope.type,
      entityId: envelope.entityId,
      expectedVersion: envelope.expectedVersion ?? matchVersion,
      payload: envelope.payload,
    },
  };
}

/**
 * The path to the first string (or key) jsonb cannot hold: U+0000 or an unpaired surrogate. A type's schema
 * may allow any string, and such text must be refused here rather than fail the INSERT as a 500.
 */
function unstorablePath(value: unknown): string[] | undefined {
  const bad = (text: string) => text.includes('\u0000') || !text.isWellFormed();
  interface Node {
    value: unknown;
    key: string;
    parent: Node | undefined;
  }
  const pathOf = (node: Node | undefined, last?: string): string[] => {
    const path = last === undefined ? [] : [last];
    for (let at = node; at?.parent; at = at.parent) path.unshift(at.key);
    return path;
  };
  const stack: Node[] = [{ value, key: '', parent: undefined }];
  // The body is at most 256 KiB, so this visits a bounded number of nodes, each once.
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (typeof node.value === 'string') {
      if (bad(node.value)) return pathOf(node);
    } else if (Array.isArray(node.value)) {
      node.value.forEach((item, i) => stack.push({ value: item, key: String(i), parent: node }));
    } else if (typeof node.value === 'object' && node.value !== null) {
      for (const [key, item] of Object.entries(node.value)) {
        if (bad(key)) return pathOf(node, '(key)');
        stack.push({ value: item, key, parent: node });
      }
    }
  }
  return undefined;
}
