// Envelope intake, transport-neutral: HTTP, the broker inboxes and the library's submit() all turn a raw
// envelope into a command ready to store here, and get a reason code when they cannot. Each transport maps
// the reason to its own failure: HTTP to an RFC 9457 problem, a broker to its dead-letter path.
import { Envelope, Identifier } from '../core/envelope.ts';
import { fieldErrors, type FieldError } from '../core/field-errors.ts';
import { checkPayload, type Registry } from '../core/registry.ts';
import type { NewCommand } from './submit.ts';

/** Why an envelope was refused; the same names as the contract's problem codes. */
export type IntakeReason = 'invalid_request' | 'idempotency_key_missing' | 'idempotency_key_mismatch' | 'unknown_command_type' | 'invalid_payload' | 'version_mismatch';

export interface IntakeRefusal {
  ok: false;
  reason: IntakeReason;
  /** For a human: what is wrong with this envelope. */
  detail: string;
  /** One entry per offending field (invalid_request, invalid_payload). */
  errors?: FieldError[];
  /** Reason-specific members (`knownTypes`, `ifMatch`, `expectedVersion`). */
  extra?: Record<string, unknown>;
}

export type Intake = { ok: true; command: NewCommand } | IntakeRefusal;

export interface IntakeKeys {
  /**
   * The id the transport carries beside the body: the `Idempotency-Key` header, an AMQP `message_id`,
   * a `Nats-Msg-Id`, a Redis entry's `id` field. If the body has an id too, both must agree.
   */
  key?: string | undefined;
  /** Where `key` came from, for humans (default `Idempotency-Key header`). */
  keyName?: string;
  /** Where `key` came from, as the `path` of a field error (default `Idempotency-Key`). */
  keyPath?: string;
  /** The `If-Match` header, if any. */
  ifMatch?: string | undefined;
}

/** `"3"` (or `W/"3"`) as version 3; anything else (`*`, lists, junk) is not a version. */
export function versionOfEntityTag(tag: string): number | undefined {
  const match = /^\s*(?:W\/)?"(\d{1,10})"\s*$/.exec(tag);
  const version = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  return Number.isSafeInteger(version) && version <= 2_147_483_647 ? version : undefined;
}

const refuse = (reason: IntakeReason, detail: string, more: { errors?: FieldError[]; extra?: Record<string, unknown> } = {}): IntakeRefusal => ({
  ok: false,
  reason,
  detail,
  ...more,
});

/**
 * Turns one raw envelope into a command ready to store, or the reason that refuses it. The checks run in
 * the order of the contract's table, so each bad envelope gets the most specific reason.
 *
 * @example
 * const intake = checkIntake(JSON.parse(body), registry, { key: message.properties.messageId, keyName: 'message_id' });
 * if (!intake.ok) deadLetter(message, intake.reason, intake.detail);
 */
export function checkIntake(raw: unknown, registry: Registry, keys: IntakeKeys = {}): Intake {
  const { key, ifMatch } = keys;
  const keyName = keys.keyName ?? 'Idempotency-Key header';
  const keyPath = keys.keyPath ?? 'Idempotency-Key';
  if (key !== undefined && !Identifier.safeParse(key).success) {
    return refuse('invalid_request', `the ${keyName} is not a valid id`, { errors: [{ path: keyPath, message: 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -' }] });
  }
  const matchVersion = ifMatch === undefined ? undefined : versionOfEntityTag(ifMatch);
  if (ifMatch !== undefined && matchVersion === undefined) {
    return refuse('invalid_request', 'If-Match must be one entity tag such as "3", taken as expectedVersion', {
      errors: [{ path: 'If-Match', message: 'must be a single entity tag "N"' }],
    });
  }
  const parsed = Envelope.safeParse(raw);
  if (!parsed.success) return refuse('invalid_request', 'the command envelope is not valid', { errors: fieldErrors(parsed.error.issues) });
  const envelope = parsed.data;
  if (key !== undefined && envelope.id !== undefined && key !== envelope.id) {
    return refuse('idempotency_key_mismatch', `the ${keyName} and the body id differ`);
  }
  const id = envelope.id ?? key;
  if (id === undefined) return refuse('idempotency_key_missing', `give the command id in the body or in the ${keyName}`);
  if (matchVersion !== undefined && envelope.expectedVersion !== undefined && matchVersion !== envelope.expectedVersion) {
    return refuse('version_mismatch', `If-Match names version ${matchVersion} but expectedVersion is ${envelope.expectedVersion}`, {
      extra: { ifMatch: matchVersion, expectedVersion: envelope.expectedVersion },
    });
  }
  // Before the schema: a recursive schema (or the fingerprint's canonical JSON) would overflow the stack on it.
  if (depthOf(envelope.payload) > MAX_PAYLOAD_DEPTH) {
    return refuse('invalid_payload', `the payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`, {
      errors: [{ path: 'payload', message: `must nest at most ${MAX_PAYLOAD_DEPTH} objects or arrays deep` }],
    });
  }
  const checked = checkPayload(registry, envelope.type, envelope.payload);
  if (!checked.ok) {
    if (checked.reason === 'unknown_command_type') {
      return refuse('unknown_command_type', `unknown command type ${JSON.stringify(envelope.type)}`, { extra: { knownTypes: registry.types } });
    }
    return refuse('invalid_payload', `the payload does not fit ${envelope.type}`, { errors: fieldErrors(checked.issues, 'payload') });
  }
  const unstorable = unstorablePath(envelope.payload);
  if (unstorable !== undefined) {
    return refuse('invalid_payload', 'the payload holds text PostgreSQL cannot store', {
      errors: [{ path: ['payload', ...unstorable].join('.'), message: 'must not contain U+0000 or unpaired surrogates' }],
    });
  }
  return {
    ok: true,
    command: { id, type: envelope.type, entityId: envelope.entityId, expectedVersion: envelope.expectedVersion ?? matchVersion, payload: envelope.payload },
  };
}

/** The deepest nesting of objects and arrays a payload may have (the payload object itself is level 1). */
export const MAX_PAYLOAD_DEPTH = 64;

/** How deep `value` nests objects and arrays, counted without recursion (so any depth is measured safely). */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > MAX_PAYLOAD_DEPTH) return deepest;
    for (const item of Array.isArray(node) ? node : Object.values(node)) stack.push([item, depth + 1]);
  }
  return deepest;
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
