// The package's public API is what its entry points export at run time (package.json `exports`): this pins
// the list, so an export is added or removed on purpose, never by accident. Types are erased and pinned by
// the type checker (test/int/library.test.ts imports them from src/index.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ENTRY_POINTS = {
  '.': '../../src/index.ts',
  './client': '../../src/client/index.ts',
  './postgres': '../../src/library/postgres.ts',
  './reference': '../../src/reference.ts',
  './testing': '../../src/testing/index.ts',
} as const;

const PUBLIC = {
  '.': [
    'Amount',
    'CommandRefusedError',
    'ConfigError',
    'EntityStamps',
    'EntityVersion',
    'Identifier',
    'OncelyUsageError',
    'Timestamp',
    'accept',
    'appendTable',
    'changeEntity',
    'checkDomains',
    'createEntity',
    'createOncely',
    'creationConflict',
    'defineCommand',
    'defineDomain',
    'entityRead',
    'entityTable',
    'int',
    'isTerminal',
    'lookup',
    'notFound',
    'pageRead',
    'pageSchema',
    'refuse',
    'rejected',
    'rowKey',
    'submit',
    'succeeded',
    'target',
    'versionConflict',
  ],
  './client': ['ProblemError', 'UnexpectedResponseError', 'createClient'],
  './postgres': ['EmbeddedPostgresError', 'startEmbeddedPostgres'],
  './reference': [
    'accountRows',
    'accounts',
    'accountsDomain',
    'cancelOrder',
    'cancelRedPacket',
    'completeOrder',
    'createOrder',
    'createReferenceClient',
    'creditAccount',
    'debitAccount',
    'issueRedPacket',
    'ledgerEntries',
    'ledgerRows',
    'openAccount',
    'orderRows',
    'orders',
    'ordersDomain',
    'payOrder',
    'payRedPacket',
    'redPacketRows',
    'redPackets',
    'redPacketsDomain',
    'referenceDomains',
    'shipOrder',
    'transferMoney',
  ],
  './testing': ['NotInPlan', 'decideInMemory', 'given'],
} as const;

describe('public API', () => {
  it.each(Object.entries(ENTRY_POINTS))('%s exports exactly the pinned names', async (entry, file) => {
    const module = (await import(file)) as Record<string, unknown>;
    expect(Object.keys(module).sort()).toEqual([...PUBLIC[entry as keyof typeof PUBLIC]].sort());
  });

  it('maps every entry point to its compiled file in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    for (const [entry, file] of Object.entries(ENTRY_POINTS)) {
      const compiled = file.replace('../../src/', './dist/').replace(/\.ts$/, '.js');
      // `default`, not `import`: require('oncely') from CommonJS (require of an ES module, Node 22.12+) resolves it too.
      expect(pkg.exports[entry]).toEqual({ types: compiled.replace(/\.js$/, '.d.ts'), default: compiled });
    }
  });
});
