import { createRegistry, type Registry } from '../core/registry.ts';
import { accountCommands } from './accounts/commands.ts';

/** Every command type oncely ships with. */
export function createDefaultRegistry(): Registry {
  return createRegistry([...accountCommands]);
}
