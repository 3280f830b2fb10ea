import type { z } from 'zod';
import type { AnyCommandDefinition } from './command.ts';

export interface Registry {
  readonly types: readonly string[];
  get(type: string): AnyCommandDefinition | undefined;
  definitions(): readonly AnyCommandDefinition[];
}

export type PayloadCheck =
  { ok: true; payload: unknown } | { ok: false; reason: 'unknown_command_type' } | { ok: false; reason: 'invalid_payload'; issues: z.core.$ZodIssue[] };

/**
 * A value-level registry of command types: the one place that maps a type name to its schema and handler.
 *
 * @example
 * const registry = createRegistry([...accountCommands, ...orderCommands]);
 * registry.get('account.credit');
 */
export function createRegistry(definitions: readonly AnyCommandDefinition[]): Registry {
  const byType = new Map<string, AnyCommandDefinition>();
  for (const definition of definitions) {
    if (byType.has(definition.type)) throw new Error(`command type ${definition.type} is defined twice`);
    byType.set(definition.type, definition);
  }
  return {
    types: [...byType.keys()],
    get: (type) => byType.get(type),
    definitions: () => [...byType.values()],
  };
}

/** Checks a payload against its type's schema, without throwing. */
export function checkPayload(registry: Registry, type: string, payload: unknown): PayloadCheck {
  const definition = registry.get(type);
  if (!definition) return { ok: false, reason: 'unknown_command_type' };
  const parsed = definition.payload.safeParse(payload);
  if (!parsed.success) return { ok: false, reason: 'invalid_payload', issues: parsed.error.issues };
  return { ok: true, payload: parsed.data };
}
