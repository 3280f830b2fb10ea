import { checkDomains, commandsOf, type Domain } from '../core/domain.ts';
import { createRegistry, type Registry } from '../core/registry.ts';
import { accountsDomain } from './accounts/domain.ts';
import { ordersDomain } from './orders/domain.ts';
import { redPacketsDomain } from './red-packets/domain.ts';

export { accountsDomain, ordersDomain, redPacketsDomain };

/**
 * The domains oncely ships with, in the order their routes are documented.
 *
 * @example
 * await startSystem({ config, roles, log, domains: [...referenceDomains, ticketsDomain] });
 */
export const referenceDomains = [accountsDomain, ordersDomain, redPacketsDomain] as const satisfies readonly Domain[];
checkDomains(referenceDomains);

/**
 * Every command type of the reference domains.
 *
 * @example
 * const registry = createRegistry([...createDefaultRegistry().definitions(), myCommand]);
 */
export function createDefaultRegistry(): Registry {
  return createRegistry(commandsOf(referenceDomains));
}
