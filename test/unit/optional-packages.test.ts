// The optional peer dependencies (broker clients, tracing SDK, embedded PostgreSQL, /docs assets) load only
// where used; a missing one is one line naming the feature and the package, with the install command.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import manifest from '../../package.json' with { type: 'json' };
import { loadOptional, missingPackageMessage, MissingPackageError } from '../../src/optional.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'oncely-optional-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A module that imports `name` statically, as src/inbox/rabbitmq.ts imports amqplib. */
function moduleImporting(name: string): string {
  const file = path.join(dir, `imports-${name.replace(/\W/g, '_')}.mjs`);
  writeFileSync(file, `import '${name}';\nexport const loaded = true;\n`);
  return pathToFileURL(file).href;
}

describe('optional packages', () => {
  it('names the feature, the package and the range from package.json', () => {
    expect(missingPackageMessage('RELAY_BROKER=rabbitmq', ['amqplib'])).toBe(
      `oncely: RELAY_BROKER=rabbitmq needs the package amqplib: npm install amqplib@${manifest.peerDependencies.amqplib}`,
    );
    expect(missingPackageMessage('INBOX_NATS_URL', ['@nats-io/transport-node', '@nats-io/jetstream'])).toBe(
      `oncely: INBOX_NATS_URL needs the packages @nats-io/transport-node, @nats-io/jetstream: npm install @nats-io/transport-node@${manifest.peerDependencies['@nats-io/transport-node']} @nats-io/jetstream@${manifest.peerDependencies['@nats-io/jetstream']}`,
    );
  });

  it('turns a missing package into one MissingPackageError line', async () => {
    const url = moduleImporting('oncely-absent-package');
    const failure = loadOptional('RELAY_BROKER=example', ['oncely-absent-package'], () => import(url));
    await expect(failure).rejects.toThrow(MissingPackageError);
    await expect(failure).rejects.toThrow(/^oncely: RELAY_BROKER=example needs the package oncely-absent-package: npm install oncely-absent-package$/);
  });

  it('rethrows any other failure as it is', async () => {
    const url = moduleImporting('oncely-other-absent-package');
    const failure = loadOptional('RELAY_BROKER=example', ['oncely-absent-package'], () => import(url));
    await expect(failure).rejects.not.toThrow(MissingPackageError);
    await expect(failure).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    const broken = loadOptional('x', ['amqplib'], () => Promise.reject(new TypeError('boom')));
    await expect(broken).rejects.toThrow(TypeError);
  });

  it('loads an installed package', async () => {
    const amqplib = await loadOptional('RELAY_BROKER=rabbitmq', ['amqplib'], () => import('amqplib'));
    expect(typeof amqplib.connect).toBe('function');
  });

  it('lists every optional peer in peerDependenciesMeta and in devDependencies (so this repository runs them)', () => {
    const optional = Object.entries(manifest.peerDependenciesMeta)
      .filter(([, meta]) => meta.optional)
      .map(([name]) => name);
    expect(optional.length).toBeGreaterThan(0);
    for (const name of optional) {
      expect(manifest.peerDependencies, name).toHaveProperty([name]);
      expect(manifest.devDependencies, name).toHaveProperty([name]);
      expect(manifest.dependencies, name).not.toHaveProperty([name]);
    }
  });
});
