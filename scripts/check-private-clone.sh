#!/usr/bin/env bash
# Issue 12's check: a clone in a private folder (mode 700, as `mktemp -d` and root's home are) must start and
# test as a new user would. Clones this repository's committed HEAD into a fresh `mktemp -d` folder, runs
# `npm ci`, then `npm start` (waits for /health/ready, reads a balance, sends SIGTERM, expects exit 0), and
# one test file through `npm test`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
chmod 700 "$work"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; sleep 2; kill -KILL "$pid" 2>/dev/null || true; fi
  # A clone the postgres user cannot reach keeps its data under /var/lib/oncely: remove that too.
  if [ -f "$work/oncely/.data/postgres-data-dir" ]; then rm -rf "$(dirname "$(cat "$work/oncely/.data/postgres-data-dir")")"; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "private-clone: cloning into $work (mode $(stat -c %a "$work"), as $(id -un))"
git clone -q "$repo" "$work/oncely"
cd "$work/oncely"
npm ci --no-audit --no-fund >"$work/npm-ci.log" 2>&1 || { tail -20 "$work/npm-ci.log"; exit 1; }

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
PORT=$port npm start >"$work/start.log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
if [ -z "$ready" ]; then echo "private-clone: npm start never answered /health/ready"; cat "$work/start.log"; exit 1; fi
grep -q "oncely listening" "$work/start.log"
body='{"id":"open-private","type":"account.open","entityId":"private","payload":{"currency":"CNY"}}'
curl -fsS -X POST "http://127.0.0.1:$port/v1/commands" -H 'content-type: application/json' -H 'Prefer: wait=10' -d "$body" | grep -q '"succeeded"'
body='{"id":"credit-private","type":"account.credit","entityId":"private","payload":{"amount":250}}'
curl -fsS -X POST "http://127.0.0.1:$port/v1/commands" -H 'content-type: application/json' -H 'Prefer: wait=10' -d "$body" | grep -q '"succeeded"'
curl -fsS "http://127.0.0.1:$port/v1/accounts/private" | grep -q '"balance":250'
echo "private-clone: npm start answered ready and read balance 250"
grep "^oncely:" "$work/start.log" || true
kill -TERM "$pid"
code=0; wait "$pid" || code=$?
pid=""
if [ "$code" != 0 ]; then echo "private-clone: npm start exited $code on SIGTERM"; tail -20 "$work/start.log"; exit 1; fi
echo "private-clone: npm start exited 0 on SIGTERM"

npm test -- test/int/dedupe.test.ts >"$work/test.log" 2>&1 || { tail -30 "$work/test.log"; echo "private-clone: npm test failed"; exit 1; }
grep -E "Tests .*passed" "$work/test.log"
echo "private-clone: passed"
