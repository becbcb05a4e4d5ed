#!/usr/bin/env bash
# Background services of the local stack: ministack (AWS emulator) on
# 127.0.0.1:4566 and the stand-ins for Last.fm (5056) and Spotify (5057).
#
#   infra/stack.sh start    start whatever is not running (idempotent)
#   infra/stack.sh stop     stop what this script started
#   infra/stack.sh status   one line per service
#   infra/stack.sh logs     follow .local/*.log
#
# Pids and logs live in .local/ (gitignored). Each service runs in its own
# session (setsid), so stopping its process group also stops the Lambda
# bootstrap processes ministack spawned.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"

MINISTACK_PORT="${MINISTACK_PORT:-4566}"
LASTFM_PORT="${LASTFM_PORT:-5056}"
SPOTIFY_PORT="${SPOTIFY_PORT:-5057}"
# Extra flags for the Last.fm stand-in, e.g. LASTFM_STANDIN_ARGS="--latency-ms 80 --quiet".
LASTFM_STANDIN_ARGS="${LASTFM_STANDIN_ARGS:-}"
# The stand-in knows the same client as the functions (SPOTIFY_CLIENT_ID/SECRET defaults in deploy.py).
SPOTIFY_STANDIN_ARGS="${SPOTIFY_STANDIN_ARGS:---client-id local-spotify-client --client-secret local-spotify-secret --quiet}"

# The interpreter pip installed into, resolved once: the services are started
# with a scrubbed environment in which a pyenv/venv shim might not resolve.
PY="$(python3 -c 'import sys; print(sys.executable)')"

say() { echo "[stack] $*" >&2; }

# http_ok URL [any]: 0 if URL answers 2xx within 1 s (with "any": any HTTP
# status, for stand-ins whose health route is not ours to know).
http_ok() {
  "$PY" - "$1" "${2:-}" <<'EOF' >/dev/null 2>&1
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except urllib.error.HTTPError:
    sys.exit(0 if sys.argv[2] == "any" else 1)
EOF
}

# alive NAME: 0 if the pid recorded for NAME runs and is still that service
# (a stale pid may have been reused by an unrelated process).
alive() {
  local pidfile="$LOCAL/$1.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  grep -qa -- "$2" "/proc/$pid/cmdline" 2>/dev/null
}

# launch NAME CMD...: start CMD detached in its own session, log to .local/NAME.log.
launch() {
  local name="$1"; shift
  local log="$LOCAL/$name.log"
  { echo; echo "=== $(date -u +%FT%TZ) starting: $*"; } >>"$log"
  setsid "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$LOCAL/$name.pid"
}

# wait_http NAME URL SECONDS [any]
wait_http() {
  local name="$1" url="$2" secs="$3" mode="${4:-}" i
  for ((i = 0; i < secs * 10; i++)); do
    http_ok "$url" "$mode" && return 0
    if ! kill -0 "$(cat "$LOCAL/$name.pid")" 2>/dev/null; then
      say "$name exited during startup; last lines of .local/$name.log:"
      tail -n 20 "$LOCAL/$name.log" >&2
      return 1
    fi
    sleep 0.1
  done
  say "$name not healthy at $url after ${secs}s; see .local/$name.log"
  return 1
}

# stop NAME MARKER: TERM the process group, KILL it after 10 s.
stop_one() {
  local name="$1" marker="$2" pid i
  if alive "$name" "$marker"; then
    pid="$(cat "$LOCAL/$name.pid")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$LOCAL/$name.pid" "$LOCAL/$name.sha"
}

# Hash of the files a stand-in is made of: a changed stand-in is restarted.
src_sha() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

start_ministack() {
  local url="http://127.0.0.1:$MINISTACK_PORT/_ministack/health"
  if alive ministack ministack && http_ok "$url"; then
    say "ministack already running (pid $(cat "$LOCAL/ministack.pid"))"
    return 0
  fi
  if http_ok "$url"; then
    # Someone else's ministack: reuse it rather than fail on the port.
    say "a ministack not started by this script answers on :$MINISTACK_PORT; reusing it"
    return 0
  fi
  stop_one ministack ministack
  # Lambda bootstraps inherit ministack's environment, so it is started from a
  # scrubbed one: nothing of the caller's AWS profile, proxies or per-service
  # endpoints can leak into the functions. AWS_ENDPOINT_URL is what makes
  # ministack point every bootstrap's SDK back at itself.
  # IOT_MTLS/SFTP off: they would listen on 0.0.0.0 and nothing here needs them.
  # Its scratch (extracted function zips, one dir per code sha) and state
  # files go under .local/ so that `stop` can clear them.
  mkdir -p "$LOCAL/ministack-tmp"
  launch ministack env -i \
    PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 \
    TMPDIR="$LOCAL/ministack-tmp" STATE_DIR="$LOCAL/ministack-state" \
    BIND_HOST=127.0.0.1 GATEWAY_PORT="$MINISTACK_PORT" \
    IOT_MTLS_ENABLED=0 SFTP_ENABLED=0 \
    AWS_ENDPOINT_URL="http://127.0.0.1:$MINISTACK_PORT" \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    RUST_BACKTRACE=1 \
    "$PY" -m ministack
  wait_http ministack "$url" 30
  say "ministack up on 127.0.0.1:$MINISTACK_PORT (pid $(cat "$LOCAL/ministack.pid"))"
}

# start_standin NAME SCRIPT PORT HEALTH_PATH EXTRA_ARGS
start_standin() {
  local name="$1" script="$2" port="$3" health="$4" extra="$5"
  local dir sha url
  if [[ ! -f "$ROOT/$script" ]]; then
    say "$script not found; skipping the $name stand-in"
    return 0
  fi
  dir="$(dirname "$ROOT/$script")"
  sha="$(src_sha "$dir"/*.py)"
  url="http://127.0.0.1:$port$health"
  if alive "$name" "$script" && http_ok "$url" any; then
    if [[ "$(cat "$LOCAL/$name.sha" 2>/dev/null)" == "$sha" ]]; then
      say "$name stand-in already running (pid $(cat "$LOCAL/$name.pid"))"
      return 0
    fi
    say "$name stand-in sources changed; restarting it"
  fi
  stop_one "$name" "$script"
  # shellcheck disable=SC2086 # EXTRA_ARGS is a flag list on purpose
  launch "$name" "$PY" "$ROOT/$script" --host 127.0.0.1 --port "$port" $extra
  echo "$sha" >"$LOCAL/$name.sha"
  wait_http "$name" "$url" 30 any
  say "$name stand-in up on 127.0.0.1:$port (pid $(cat "$LOCAL/$name.pid"))"
}

status_one() {
  local name="$1" marker="$2"
  if alive "$name" "$marker"; then
    echo "$name: running (pid $(cat "$LOCAL/$name.pid"))"
  else
    echo "$name: stopped"
  fi
}

case "${1:-}" in
  start)
    start_ministack
    start_standin lastfm infra/standins/lastfm.py "$LASTFM_PORT" /_admin/health "$LASTFM_STANDIN_ARGS"
    start_standin spotify infra/standins/spotify.py "$SPOTIFY_PORT" /_admin/health "$SPOTIFY_STANDIN_ARGS"
    ;;
  stop)
    stop_one spotify infra/standins/spotify.py
    stop_one lastfm infra/standins/lastfm.py
    stop_one ministack ministack
    # Its state lived in memory; the stack is gone with it.
    rm -rf "$LOCAL/stack.env" "$LOCAL/ministack-tmp" "$LOCAL/ministack-state"
    ;;
  status)
    status_one ministack ministack
    status_one lastfm infra/standins/lastfm.py
    status_one spotify infra/standins/spotify.py
    ;;
  logs)
    # Service logs from .local/ plus the Lambda functions' output, which
    # ministack keeps in CloudWatch Logs rather than in its own log file.
    shopt -s nullglob
    logs=("$LOCAL"/*.log)
    if ((${#logs[@]} == 0)); then say "no logs in .local/ yet"; exit 0; fi
    follower=""
    if [[ -f "$LOCAL/stack.env" ]]; then
      "$PY" "$ROOT/infra/lambda_logs.py" --follow --since 300 &
      follower=$!
      trap 'kill "$follower" 2>/dev/null || true' EXIT INT TERM
    fi
    tail -n 50 -F "${logs[@]}"
    ;;
  *)
    echo "usage: $0 start|stop|status|logs" >&2
    exit 2
    ;;
esac
