import { createRegistry, type Registry } from '../core/registry.ts';
import { accountCommands } from './accounts/commands.ts';
import { orderCommands } from './orders/commands.ts';
import { redPacketCommands } from './red-packets/commands.ts';

/** Every command type oncely ships with. */
export function createDefaultRegistry(): Registry {
  return createRegistry([...accountCommands, ...orderCommands, ...redPacketCommands]);
}
