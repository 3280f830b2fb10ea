#!/usr/bin/env bash
# Builds and packs oncely as npm would publish it, installs examples/stock-reservations from that tarball in
# a temporary copy (its own node_modules, nothing shared with the repository's), then type-checks the
# example against the package's declarations and runs its tests against a real PostgreSQL (DATABASE_URL's
# server, or the embedded PostgreSQL 18 that oncely ships).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

npm run build --silent
# --ignore-scripts: prepack would build again, and dist/ was just built.
tarball=$(npm pack --ignore-scripts --silent --pack-destination "$work" | tail -1)
echo "packed $tarball ($(du -k "$work/$tarball" | cut -f1) KiB)"

mkdir "$work/app"
tar -C "$root/examples/stock-reservations" --exclude=node_modules --exclude=package-lock.json -cf - . | tar -C "$work/app" -xf -
cd "$work/app"
npm pkg set "dependencies.oncely=file:$work/$tarball"
npm install --no-audit --no-fund --prefer-offline --loglevel=error
test -f node_modules/oncely/dist/index.js || { echo "oncely was not installed from the tarball"; exit 1; }
test ! -e node_modules/oncely/src || { echo "the package ships src/: it should ship dist/ only"; exit 1; }
# The CLI runs from dist/ in the installed package.
npx --no-install oncely --help | grep -q '^usage: oncely' || { echo "npx oncely --help failed in the installed package"; exit 1; }

npm run typecheck
npm test
