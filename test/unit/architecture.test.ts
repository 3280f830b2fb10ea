// Dependencies point inwards (STYLE.md). One declared layer map below says which src/ folders (and top-level
// files) each may import; every import arrow between them, static or dynamic, is checked against it. src/
// never reaches outside itself (chaos/, test/, scripts/ import src/, not the reverse); only src/queue imports
// pg-boss; only config.ts and the entry points read process.env.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BROKERS } from '../../src/brokers/registry.ts';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/**
 * Each layer and the layers it may import (besides itself). A layer is a folder of src/, or a top-level
 * file by its name without `.ts`.
 */
const LAYERS = {
  core: [],
  log: [],
  // Lazy imports of the optional peer dependencies (broker clients, tracing SDK, embedded PostgreSQL, /docs assets).
  optional: [],
  // Each broker's variables come from its descriptor (src/brokers/registry.ts), spread into the one schema.
  config: ['brokers', 'core'],
  // Each domain's tables stay in its folder (drizzle.config.ts globs them), so db never reaches the domains.
  db: ['core', 'optional'],
  processor: ['core', 'db', 'log'],
  domains: ['core', 'db', 'processor'],
  metrics: ['core', 'db', 'processor'],
  tracing: ['config', 'log', 'optional', 'processor'],
  queue: ['core', 'db', 'processor'],
  http: ['core', 'metrics', 'optional', 'processor'],
  // One folder per broker (its settings, inbox source, outbox publisher, kit) and the registry listing them; the
  // contracts a source and a publisher fulfil live here too, so brokers import neither the inbox nor the outbox.
  // The processor only for the intake's reason codes (a dead letter's reason).
  brokers: ['core', 'log', 'processor'],
  // The inbox role: the registry's sources, each delivery through the processor's intake and submission.
  inbox: ['brokers', 'core', 'db', 'log', 'metrics', 'optional', 'processor'],
  // The outbox relay: claims stored events and publishes them to the registry's broker.
  outbox: ['brokers', 'core', 'db', 'log', 'metrics', 'optional', 'processor'],
  // The typed client parses responses with the server's own zod schemas (http/schemas.ts, http/problem.ts and,
  // in client/reference.ts only, the reference domains' schemas.ts; pinned below) and takes core's Domain types.
  client: ['core', 'domains', 'http'],
  // The roles (api, worker, inbox, relay, retention, reconciler), each a starter over the base they share: the adapters' users.
  roles: ['brokers', 'config', 'core', 'db', 'http', 'inbox', 'log', 'metrics', 'outbox', 'processor', 'queue', 'tracing'],
  // The composition root: the one place that knows every role and the order they start in.
  // It serves the domains it is given and knows none of them (the engine imports no domain).
  system: ['config', 'core', 'db', 'http', 'inbox', 'log', 'metrics', 'outbox', 'processor', 'roles', 'tracing'],
  // oncely as a library (createOncely, submit(tx)): wraps the composition root for an application's process.
  library: ['client', 'config', 'core', 'db', 'log', 'processor', 'queue', 'system'],
  // The package's public entry (src/index.ts): re-exports only; test/unit/public-api.test.ts pins the list.
  index: ['config', 'core', 'library', 'processor'],
  // `oncely/reference`: the reference domains, opt-in. Re-exports only.
  reference: ['client', 'domains'],
  // `oncely/testing`: a command's plan and decision run over rows in memory, with the processor's own batch state.
  testing: ['core', 'processor'],
  // The entry points of `npm start` and the chaos harness: they serve the reference domains, explicitly.
  main: ['brokers', 'config', 'core', 'db', 'domains', 'log', 'metrics', 'processor', 'system'],
  cli: ['config', 'core', 'db', 'main', 'processor', 'queue'],
} as const satisfies Record<string, readonly string[]>;

type Layer = keyof typeof LAYERS;
const isLayer = (name: string): name is Layer => Object.hasOwn(LAYERS, name);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : full.endsWith('.ts') ? [full] : [];
  });
}

interface Import {
  /** Relative to src/ for a relative specifier (may start with `..` when it leaves src/), `pkg:<name>` otherwise. */
  target: string;
  typeOnly: boolean;
}

const STATIC = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s+['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const resolve = (spec: string) => (spec.startsWith('.') ? path.relative(SRC, path.resolve(path.dirname(file), spec)) : `pkg:${spec}`);
  return [
    ...[...text.matchAll(STATIC)].map((m) => ({ target: resolve(m[3]!), typeOnly: m[2] !== undefined })),
    ...[...text.matchAll(BARE)].map((m) => ({ target: resolve(m[1]!), typeOnly: false })),
    ...[...text.matchAll(DYNAMIC)].map((m) => ({ target: resolve(m[1]!), typeOnly: false })),
  ];
}

/** `processor/batch.ts` -> `processor`, `system.ts` -> `system`. */
const layerOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : file.replace(/\.ts$/, ''));

const all = files(SRC).map((file) => ({ file: path.relative(SRC, file), imports: importsOf(file) }));
const local = all.flatMap(({ file, imports }) => imports.filter((i) => !i.target.startsWith('pkg:')).map((i) => ({ file, ...i })));

describe('architecture', () => {
  it('sees the imports (the scan is not vacuous)', () => {
    expect(all.length).toBeGreaterThan(50);
    expect(local.some((i) => i.file === 'roles/base.ts' && i.target.startsWith('queue/'))).toBe(true);
    expect(local.some((i) => i.file === 'cli/context.ts' && i.target === 'queue/boss.ts')).toBe(true); // a dynamic import
  });

  it('puts every file of src/ in a declared layer', () => {
    expect(all.map((f) => layerOf(f.file)).filter((layer) => !isLayer(layer))).toEqual([]);
  });

  it('never imports from outside src/ (chaos/, test/ and scripts/ import src/, not the reverse)', () => {
    expect(local.filter((i) => i.target.startsWith('..')).map((i) => `${i.file} -> ${i.target}`)).toEqual([]);
  });

  it('takes only the arrows the layer map allows', () => {
    const forbidden = local.filter(({ file, target }) => {
      const from = layerOf(file);
      const to = layerOf(target);
      return from !== to && !(isLayer(from) && (LAYERS[from] as readonly string[]).includes(to));
    });
    expect(forbidden.map((i) => `${i.file} -> ${i.target}`)).toEqual([]);
  });

  it('keeps the client arrows narrow: http and the domains only for their schemas, core only for types', () => {
    const clientTo = (layer: string) => local.filter((i) => layerOf(i.file) === 'client' && layerOf(i.target) === layer);
    expect(
      clientTo('http')
        .filter((i) => !['http/schemas.ts', 'http/problem.ts'].includes(i.target))
        .map((i) => `${i.file} -> ${i.target}`),
    ).toEqual([]);
    expect(
      clientTo('domains')
        .filter((i) => i.file !== 'client/reference.ts' || !/^domains\/[^/]+\/schemas\.ts$/.test(i.target))
        .map((i) => `${i.file} -> ${i.target}`),
    ).toEqual([]);
    expect(
      clientTo('core')
        .filter((i) => !i.typeOnly)
        .map((i) => `${i.file} -> ${i.target}`),
    ).toEqual([]);
    // Those schema files stay free of the server: zod, core and their own model (problem.ts's hono imports are types).
    const domainSchemas = all.filter((f) => /^domains\/[^/]+\/schemas\.ts$/.test(f.file)).map((f) => f.file);
    expect(domainSchemas.length).toBeGreaterThan(0);
    for (const file of ['http/schemas.ts', 'http/problem.ts', ...domainSchemas]) {
      const imports = all.find((f) => f.file === file)?.imports ?? [];
      const own = (target: string) => target.startsWith('http/') || /^domains\/[^/]+\/model\.ts$/.test(target);
      expect(
        imports.filter((i) => !(i.target === 'pkg:zod' || i.target.startsWith('core/') || own(i.target) || i.typeOnly)).map((i) => i.target),
        file,
      ).toEqual([]);
    }
  });

  it('keeps core pure: it imports only zod, node: and itself (and drizzle-orm types, erased at run time)', () => {
    for (const { file, imports } of all.filter((f) => f.file.startsWith('core/'))) {
      for (const { target, typeOnly } of imports) {
        const allowed = target === 'pkg:zod' || target.startsWith('core/') || target.startsWith('pkg:node:') || (typeOnly && target.startsWith('pkg:drizzle-orm'));
        expect(allowed, `${file} -> ${target}`).toBe(true);
      }
    }
  });

  it('keeps domain models pure: they import only core and other models (and their table, for its row type only)', () => {
    for (const { file, imports } of all.filter((f) => /^domains\/[^/]+\/model\.ts$/.test(f.file))) {
      for (const { target, typeOnly } of imports) {
        const rowType = typeOnly && target === file.replace(/model\.ts$/, 'table.ts');
        expect(target.startsWith('core/') || target === 'pkg:zod' || /^domains\/[^/]+\/model\.ts$/.test(target) || rowType, `${file} -> ${target}`).toBe(true);
      }
    }
  });

  it('keeps the engine free of domains: core, processor, db, queue, http, system and library import none', () => {
    const ENGINE = ['core', 'processor', 'db', 'queue', 'http', 'roles', 'system', 'library'];
    expect(ENGINE.filter((layer) => (LAYERS[layer as Layer] as readonly string[]).includes('domains'))).toEqual([]);
    expect(local.filter((i) => ENGINE.includes(layerOf(i.file)) && layerOf(i.target) === 'domains').map((i) => `${i.file} -> ${i.target}`)).toEqual([]);
  });

  it("lets only a broker's inbox, outbox and kit import its client (amqplib, @nats-io/*, redis): every process reads the registry", () => {
    const clients = BROKERS.flatMap((broker) => broker.packages.map((name) => `pkg:${name}`));
    const isClient = (target: string) => clients.some((client) => target === client || target.startsWith(`${client}/`));
    const users = all.filter((f) => f.imports.some((i) => isClient(i.target))).map((f) => f.file);
    expect(users.length).toBeGreaterThan(0);
    // optional.ts names amqplib only in its JSDoc example.
    expect(users.filter((file) => file !== 'optional.ts' && !/^brokers\/[^/]+\/(inbox|outbox|kit)\.ts$/.test(file))).toEqual([]);
  });

  it('lets only src/queue import pg-boss', () => {
    const offenders = all.filter((f) => !f.file.startsWith('queue/') && f.imports.some((i) => i.target === 'pkg:pg-boss' || i.target.startsWith('pkg:pg-boss/')));
    expect(offenders.map((f) => f.file)).toEqual([]);
  });

  it('reads process.env only in the entry points and config', () => {
    const readers = all.filter((f) => /process\.env\b/.test(readFileSync(path.join(SRC, f.file), 'utf8'))).map((f) => f.file);
    expect(readers.filter((f) => !f.startsWith('main/') && f !== 'config.ts')).toEqual([]);
  });
});
