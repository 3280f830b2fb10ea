// Optional packages: the broker clients, the OpenTelemetry SDK, the embedded PostgreSQL and the /docs page's
// renderer are optional peer dependencies, so a library user installs only what their process runs. Each is
// imported here, lazily, by the one feature that needs it; a missing one becomes one line naming the package
// and the feature, with the install command (the version range comes from our package.json).
import { readFileSync } from 'node:fs';

/** An optional peer dependency that a configured feature needs is not installed. */
export class MissingPackageError extends Error {
  override name = 'MissingPackageError';
}

let peerRanges: Record<string, string> | undefined;

/** The peer dependency ranges of oncely's package.json (src/ and dist/ both sit one level below it). */
function peerRange(name: string): string | undefined {
  if (!peerRanges) {
    try {
      const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { peerDependencies?: Record<string, string> };
      peerRanges = manifest.peerDependencies ?? {};
    } catch {
      peerRanges = {};
    }
  }
  return peerRanges[name];
}

/**
 * The line that says which packages `feature` needs and how to install them.
 *
 * @example
 * missingPackageMessage('RELAY_BROKER=rabbitmq', ['amqplib']);
 * // 'oncely: RELAY_BROKER=rabbitmq needs the package amqplib: npm install amqplib@^2.3.1'
 */
export function missingPackageMessage(feature: string, packages: readonly string[]): string {
  const specs = packages.map((name) => {
    const range = peerRange(name);
    return range ? `${name}@${range}` : name;
  });
  const noun = packages.length === 1 ? 'the package' : 'the packages';
  return `oncely: ${feature} needs ${noun} ${packages.join(', ')}: npm install ${specs.join(' ')}`;
}

/** Whether `err` says that `name` (the package itself, not one of its files' dependencies) could not be found. */
export function isMissingPackage(err: unknown, name: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  const message = String((err as { message?: unknown }).message);
  return message.includes(`'${name}'`) || message.includes(`'${name}/`) || message.includes(`"${name}"`) || message.includes(`/node_modules/${name}/`);
}

/**
 * Runs `load` (a dynamic import of an optional package, or of our module that imports it statically) and
 * turns "cannot find package X", for X among `packages`, into one MissingPackageError naming the feature and
 * every package it needs. Any other failure is rethrown as it is.
 *
 * @example
 * const amqplib = await loadOptional('RELAY_BROKER=rabbitmq', ['amqplib'], () => import('amqplib'));
 */
export async function loadOptional<T>(feature: string, packages: readonly string[], load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (packages.some((name) => isMissingPackage(err, name))) throw new MissingPackageError(missingPackageMessage(feature, packages), { cause: err });
    throw err;
  }
}
