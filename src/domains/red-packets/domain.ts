import { defineDomain, entityRead } from '../../core/domain.ts';
import { redPacketCommands } from './commands.ts';
import { readRedPacket } from './reads.ts';
import { redPacketRows } from './rows.ts';
import { RedPacketSchema } from './schemas.ts';
import { redPackets } from './table.ts';

/**
 * Red packets: issue (at most one live per order), pay (credits the account), cancel; `GET /v1/red-packets/{id}`.
 * It names orders and accounts, so it is served with both of those domains.
 *
 * @example
 * await startSystem({ config, roles, log, domains: referenceDomains });
 */
export const redPacketsDomain = defineDomain({
  name: 'red-packets',
  migrations: new URL('../../../migrations/reference/red-packets', import.meta.url),
  commands: redPacketCommands,
  tables: { redPackets },
  rows: [redPacketRows],
  reads: [entityRead({ collection: 'red-packets', name: 'red packet', schema: RedPacketSchema, read: readRedPacket })],
});
