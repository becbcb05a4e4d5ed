#!/usr/bin/env python3
"""Print the output of the local stack's Lambda functions.

ministack captures each bootstrap's stdout and stderr (merged) per invocation
into CloudWatch Logs, group /aws/lambda/<function name>, one stream per
invocation framed by START/END/REPORT lines, as on AWS. This reads them back.

    python3 infra/lambda_logs.py                      # everything so far, all functions
    python3 infra/lambda_logs.py -f sync-worker -s 60 # last minute of the worker
    python3 infra/lambda_logs.py --follow             # keep polling (Ctrl-C to stop)

Function names and the endpoint come from .local/stack.env (written by infra/deploy.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHORT = {"api": "API_FUNCTION_NAME", "sync-start": "SYNC_START_FUNCTION_NAME",
         "sync-worker": "SYNC_WORKER_FUNCTION_NAME"}


def load_env() -> dict[str, str]:
    env = {}
    path = ROOT / ".local" / "stack.env"
    if path.exists():
        for line in path.read_text().splitlines():
            k, sep, v = line.partition("=")
            if sep:
                env[k] = v
    return env


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--function", action="append", choices=sorted(SHORT), help="default: all")
    p.add_argument("-s", "--since", type=float, default=None, help="only the last N seconds")
    p.add_argument("--follow", action="store_true", help="poll for new lines every second")
    p.add_argument("--no-frame", action="store_true", help="drop START/END/REPORT lines")
    args = p.parse_args()

    env = load_env()
    if not env:
        print("no .local/stack.env: run `make up` first", file=sys.stderr)
        return 1
    for k in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(k, env.get(k, "test"))
    import boto3

    logs = boto3.client("logs", region_name=os.environ["AWS_REGION"])
    wanted = args.function or sorted(SHORT)
    groups = {short: f"/aws/lambda/{env[SHORT[short]]}" for short in wanted if env.get(SHORT[short])}
    start = int((time.time() - args.since) * 1000) if args.since else 0
    seen: set[str] = set()
    width = max(len(s) for s in groups) if groups else 0

    while True:
        batch = []
        for short, group in groups.items():
            kwargs = {"logGroupName": group, "startTime": start}
            try:
                while True:
                    page = logs.filter_log_events(**kwargs)
                    for e in page.get("events", []):
                        batch.append((e["timestamp"], short, e))
                    token = page.get("nextToken")
                    if not token:
                        break
                    kwargs["nextToken"] = token
            except logs.exceptions.ResourceNotFoundException:
                continue  # not invoked yet: the group appears on first invocation
        batch.sort(key=lambda t: t[0])
        for ts, short, e in batch:
            key = e.get("eventId") or f"{e.get('logStreamName')}:{ts}:{e.get('message')}"
            if key in seen:
                continue
            seen.add(key)
            msg = e["message"].rstrip("\n")
            if args.no_frame and msg.startswith(("START RequestId", "END RequestId", "REPORT RequestId")):
                continue
            stamp = datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]
            print(f"{stamp} {short:<{width}} | {msg}", flush=True)
        if not args.follow:
            return 0
        if batch:
            start = max(start, batch[-1][0] - 5000)
        time.sleep(1)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
