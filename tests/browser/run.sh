#!/usr/bin/env bash
# Browser tests of the My Data page: installs what is missing, then runs them against the local
# stack described by .local/stack.env (start it with `make up`). Exits non-zero on any failure.
#
#   tests/browser/run.sh                      # all test files
#   tests/browser/run.sh mydata.test.mjs      # some of them
#   PAGE_URL=proxy tests/browser/run.sh       # page files from disk via devserver.mjs, API from the stack
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "run.sh: $CHROMIUM is missing; installing Debian's chromium" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  # fonts-noto-cjk: names such as 宇多田ヒカル render as text, not boxes, in the screenshots.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium fonts-noto-cjk
fi

want="$(node -p 'require("./package.json").devDependencies["playwright-core"]')"
have="$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')"
if [ "$want" != "$have" ]; then
  npm ci --no-audit --no-fund
fi

if [ -z "${API_URL:-}" ] && [ ! -f ../../.local/stack.env ]; then
  echo "run.sh: .local/stack.env not found: start the local stack first (make up)" >&2
  exit 2
fi

# Sign-in goes through the stack's Cognito; helpers.mjs creates users with this tool.
(cd ../.. && cargo build -q -p karaoke-local-auth)

if [ "$#" -gt 0 ]; then
  exec node --test --test-concurrency=1 --test-timeout=300000 "$@"
fi
exec npm test
