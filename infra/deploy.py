#!/usr/bin/env python3
"""Deploy template.yaml into the local emulator (ministack) as stack `karaoke-sync`.

The real deployment is `sam build && sam deploy`; this script does the part of
`sam deploy` that the emulator needs and nothing more: zip the already built
bootstraps, put them in a local S3 bucket, point each function's CodeUri at its
zip, put the secrets into SSM, and create/update the stack. Everything in the
template is deployed as written: its routes and JWT authorizer are enforced by
the emulator's API Gateway, and its user pool (the emulator's Cognito) issues
the RS256 tokens that authorizer checks.

Usage: python3 infra/deploy.py [--profile release|debug] [--binary api=PATH ...]
Writes .local/stack.env and prints `API_URL=...` as its last line.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"

# Set before boto3 is imported so every client created below picks them up.
# Dummy credentials: ministack accepts any, and real ones must never be used here.
DEFAULT_ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}

STACK_NAME_DEFAULT = "karaoke-sync"
BUCKET = "karaoke-sync-artifacts"

# logical id in template.yaml -> cargo binary name
FUNCTIONS = {
    "ApiFunction": "api",
    "SyncStartFunction": "sync-start",
    "SyncWorkerFunction": "sync-worker",
}

# template parameter -> (environment variable, local default). Local defaults
# aim at the stand-ins started by infra/stack.sh; export the variable to aim
# elsewhere (e.g. LASTFM_API_URL=https://ws.audioscrobbler.com/2.0/).
PARAMETERS = {
    "LastfmApiUrl": ("LASTFM_API_URL", "http://127.0.0.1:5056/2.0/"),
    "LastfmRateLimit": ("LASTFM_RATE_LIMIT", "5"),
    "LastfmTimeoutMs": ("LASTFM_TIMEOUT_MS", "20000"),
    "SyncIntervalSeconds": ("SYNC_INTERVAL_SECS", "21600"),
    # Local only: page edits show without a redeploy (`make up ASSETS_DIR=$PWD/functions/api/assets`).
    "AssetsDir": ("ASSETS_DIR", ""),
    "CursorSecret": ("CURSOR_SECRET", "local-cursor-secret"),
    "MaxReceives": ("MAX_RECEIVES", "5"),
    "WorkerConcurrency": ("WORKER_CONCURRENCY", "8"),
    "SyncSchedule": ("SYNC_SCHEDULE", "rate(6 hours)"),
    "LogLevel": ("RUST_LOG", "info"),
    "SpotifyApiUrl": ("SPOTIFY_API_URL", "http://127.0.0.1:5057/v1"),
    "SpotifyAccountsUrl": ("SPOTIFY_ACCOUNTS_URL", "http://127.0.0.1:5057"),
    "SpotifyClientId": ("SPOTIFY_CLIENT_ID", "local-spotify-client"),
    "SpotifyRedirectUri": ("SPOTIFY_REDIRECT_URI", ""),
    "EraseInlineMaxItems": ("ERASE_INLINE_MAX_ITEMS", "300"),
    # Locally a sync unit never runs long (the stand-ins answer at once), so the wait after an
    # erase that interrupted a sync is kept short for the tests; AWS uses the template's 300.
    "EraseSettleSeconds": ("ERASE_SETTLE_SECS", "15"),
    "CognitoDomainPrefix": ("COGNITO_DOMAIN_PREFIX", "karaoke-local"),
    # Empty here means: the local API's URL (see local_api_url below).
    "PageUrl": ("PAGE_URL", ""),
    # The emulator serves the hosted sign-in (/login, /oauth2/token) on its own endpoint.
    "SignInBaseUrl": ("SIGN_IN_BASE_URL", ""),
    # The secrets go into the emulator's SSM, as `make deploy` expects them in AWS.
    "LastfmApiKeyParameter": ("LASTFM_API_KEY_PARAMETER", "/karaoke-sync/lastfm-api-key"),
    "SpotifyClientSecretParameter": ("SPOTIFY_CLIENT_SECRET_PARAMETER", "/karaoke-sync/spotify-client-secret"),
}

# SSM SecureString parameter (named by a template parameter) -> (environment variable, local value).
SECRETS = {
    "LastfmApiKeyParameter": ("LASTFM_API_KEY", "local-dev-key"),
    "SpotifyClientSecretParameter": ("SPOTIFY_CLIENT_SECRET", "local-spotify-secret"),
}


def log(msg: str) -> None:
    print(f"[deploy] {msg}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=["release", "debug"], default=os.environ.get("PROFILE", "release"),
                   help="which target/<profile>/ to take the binaries from")
    p.add_argument("--binary", action="append", default=[], metavar="NAME=PATH",
                   help="use PATH as the bootstrap of binary NAME (api, sync-start, sync-worker)")
    p.add_argument("--stack-name", default=os.environ.get("STACK_NAME", STACK_NAME_DEFAULT))
    p.add_argument("--template", default=str(ROOT / "template.yaml"))
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the stack")
    return p.parse_args()


# ---------------------------------------------------------------- packaging

def zip_bootstrap(binary: Path) -> bytes:
    """A Lambda custom-runtime package: one executable named `bootstrap` at the root.

    Fixed timestamp so the same binary always gives the same bytes (and sha),
    which is what makes an unchanged redeploy a no-op.
    """
    buf = io.BytesIO()
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 << 16)  # regular file, rwxr-xr-x
    info.create_system = 3  # unix, so the mode bits above are honoured
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, binary.read_bytes())
    return buf.getvalue()


def load_template(path: Path) -> dict:
    # samtranslator's loader turns short-form tags (!Ref, !Sub...) into their
    # long form, so the result can be sent back as JSON without losing anything.
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


def inline_scaling_config(template: dict, values: dict[str, str]) -> None:
    """LOCAL-ONLY substitution: ScalingConfig.MaximumConcurrency: !Ref Param -> int.

    ministack resolves a Ref to a Number parameter as a string and stores it in
    the event source mapping unconverted; its SQS poller then compares int with
    str and stops polling *every* queue. AWS converts the value itself, so the
    template keeps the Ref and only the copy sent to the emulator is changed.
    """
    for res in template.get("Resources", {}).values():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (res.get("Properties", {}).get("Events") or {}).values():
            scaling = (event.get("Properties") or {}).get("ScalingConfig") or {}
            ref = scaling.get("MaximumConcurrency")
            if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in values:
                scaling["MaximumConcurrency"] = int(values[ref["Ref"]])


# -------------------------------------------------------------- stack ops

def local_api_url(endpoint: str, api_id: str) -> str:
    # The template's ApiUrl output is the AWS host name; ministack serves the
    # same API under its gateway's path-style prefix.
    return f"{endpoint.rstrip('/')}/_aws/execute-api/{api_id}"


def existing_api_id(cfn, name: str) -> str | None:
    try:
        res = cfn.describe_stack_resource(StackName=name, LogicalResourceId="HttpApi")
    except cfn.exceptions.ClientError:
        return None
    return res["StackResourceDetail"].get("PhysicalResourceId") or None


def stack_status(cfn, name: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except cfn.exceptions.ClientError as e:
        if "does not exist" in str(e):
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def wait_stack(cfn, name: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = stack_status(cfn, name) or "GONE"
        if not status.endswith("_IN_PROGRESS"):
            return status
        if time.monotonic() > deadline:
            raise SystemExit(f"stack {name} still {status} after {timeout:.0f}s")
        time.sleep(0.5)


def stack_failure_reasons(cfn, name: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except Exception as e:  # noqa: BLE001 - diagnostics only
        return f"(no events: {e})"
    lines = [f"  {e.get('LogicalResourceId')}: {e.get('ResourceStatus')} {e.get('ResourceStatusReason', '')}"
             for e in events if "FAILED" in e.get("ResourceStatus", "")]
    return "\n".join(lines[:20]) or "(no FAILED events)"


def deploy_stack(cfn, name: str, body: str, params: list[dict], timeout: float) -> None:
    kwargs = dict(
        StackName=name,
        TemplateBody=body,
        Parameters=params,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = stack_status(cfn, name)
    if status in ("ROLLBACK_COMPLETE", "CREATE_FAILED", "DELETE_FAILED"):
        # A stack that never got created cannot be updated, on AWS either.
        log(f"stack {name} is {status}; deleting it first")
        cfn.delete_stack(StackName=name)
        wait_stack(cfn, name, timeout)
        status = stack_status(cfn, name)
        if status == "DELETE_COMPLETE":
            status = None
    if status is None or status == "DELETE_COMPLETE":
        log(f"creating stack {name}")
        cfn.create_stack(**kwargs)
        ok = {"CREATE_COMPLETE"}
    else:
        log(f"updating stack {name} (was {status})")
        try:
            cfn.update_stack(**kwargs)
        except cfn.exceptions.ClientError as e:
            if "No updates are to be performed" in str(e):
                log("no updates to the stack")
                return
            raise
        ok = {"UPDATE_COMPLETE"}
    final = wait_stack(cfn, name, timeout)
    if final not in ok:
        raise SystemExit(f"stack {name} ended {final}:\n{stack_failure_reasons(cfn, name)}")
    log(f"stack {name}: {final}")


# ------------------------------------------------------ ministack gap fixes

def ensure_code(lam, function_name: str, zip_bytes: bytes) -> None:
    """Make sure the function runs exactly this zip.

    The S3 key carries the zip's sha, so a code change is a template change and
    CloudFormation updates the function; this check only guards against an
    emulator that accepts the update without swapping the code.
    """
    want = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    have = lam.get_function_configuration(FunctionName=function_name).get("CodeSha256")
    if have != want:
        log(f"{function_name}: code sha {have} != {want}; updating code directly")
        lam.update_function_code(FunctionName=function_name, ZipFile=zip_bytes)


def ensure_ttl(ddb, table_name: str, spec: dict) -> None:
    """ministack's CloudFormation ignores TimeToLiveSpecification (the table
    reports TTL DISABLED), though its DynamoDB reaps expired items once TTL is
    on. Apply the template's setting through the API so expiry behaves locally.
    """
    if not spec or not spec.get("Enabled"):
        return
    current = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": spec["AttributeName"]})
    log(f"enabled TTL on {table_name} ({spec['AttributeName']})")


# ------------------------------------------------------------------- main

def main() -> int:
    args = parse_args()
    for k, v in DEFAULT_ENV.items():
        os.environ.setdefault(k, v)
    import boto3  # noqa: E402 - after the environment is set

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    region = os.environ["AWS_REGION"]

    binaries = {name: ROOT / "target" / args.profile / name for name in FUNCTIONS.values()}
    for override in args.binary:
        name, _, path = override.partition("=")
        if name not in binaries or not path:
            raise SystemExit(f"--binary expects one of {sorted(binaries)}=PATH, got {override!r}")
        binaries[name] = Path(path)
    missing = [str(p) for p in binaries.values() if not p.is_file()]
    if missing:
        raise SystemExit("missing binaries (build them first, e.g. `cargo build --release "
                         "-p api -p sync-start -p sync-worker`): " + ", ".join(missing))

    session = boto3.session.Session(region_name=region)
    s3 = session.client("s3")
    cfn = session.client("cloudformation")
    lam = session.client("lambda")

    try:
        s3.head_bucket(Bucket=BUCKET)
    except Exception:  # noqa: BLE001 - any failure means "create it"
        s3.create_bucket(Bucket=BUCKET)

    template = load_template(Path(args.template))
    zips: dict[str, bytes] = {}
    for logical_id, name in FUNCTIONS.items():
        data = zip_bootstrap(binaries[name])
        zips[logical_id] = data
        sha = hashlib.sha256(data).hexdigest()
        key = f"functions/{name}/{sha}.zip"
        try:
            s3.head_object(Bucket=BUCKET, Key=key)
        except Exception:  # noqa: BLE001
            s3.put_object(Bucket=BUCKET, Key=key, Body=data)
            log(f"uploaded s3://{BUCKET}/{key} ({len(data) // 1024} KiB)")
        # The only change to the template: what `sam build`/`sam deploy`
        # would have done to CodeUri after packaging the cargo-lambda build.
        template["Resources"][logical_id]["Properties"]["CodeUri"] = {"Bucket": BUCKET, "Key": key}

    values: dict[str, str] = {}
    declared = template.get("Parameters", {})
    for pname, (env, default) in PARAMETERS.items():
        if pname in declared:
            values[pname] = os.environ.get(env, default)
    inline_scaling_config(template, values)

    ssm = session.client("ssm")
    for pname, (env, local_value) in SECRETS.items():
        if pname in values:
            ssm.put_parameter(Name=values[pname], Type="SecureString", Overwrite=True,
                              Value=os.environ.get(env, local_value))
    if "SignInBaseUrl" in values and not values["SignInBaseUrl"]:
        values["SignInBaseUrl"] = endpoint.rstrip("/")

    # The page's URL (sign-in callback, Spotify redirect, links back) is the API's own URL,
    # which exists only once the stack does: a first create is followed by an update that
    # fills it in. (In AWS the template derives it; locally the emulator's path differs.)
    auto_page = "PageUrl" in values and not os.environ.get("PAGE_URL")
    api_id = existing_api_id(cfn, args.stack_name) if auto_page else None
    if api_id:
        values["PageUrl"] = local_api_url(endpoint, api_id) + "/"

    def params() -> list[dict]:
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]

    deploy_stack(cfn, args.stack_name, json.dumps(template), params(), args.timeout)
    if auto_page and not api_id:
        api_id = existing_api_id(cfn, args.stack_name)
        if api_id:
            values["PageUrl"] = local_api_url(endpoint, api_id) + "/"
            deploy_stack(cfn, args.stack_name, json.dumps(template), params(), args.timeout)

    stack = cfn.describe_stacks(StackName=args.stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in cfn.describe_stack_resources(StackName=args.stack_name)["StackResources"]}
    fn_names = {logical_id: resources[logical_id] for logical_id in FUNCTIONS}

    for logical_id, fname in fn_names.items():
        ensure_code(lam, fname, zips[logical_id])

    ddb = session.client("dynamodb")
    for logical_id, res in template["Resources"].items():
        if res.get("Type") == "AWS::DynamoDB::Table" and logical_id in resources:
            ensure_ttl(ddb, resources[logical_id], res["Properties"].get("TimeToLiveSpecification") or {})

    api_id = resources["HttpApi"]
    api_url = local_api_url(endpoint, api_id)

    lastfm_url = os.environ.get("LASTFM_API_URL", PARAMETERS["LastfmApiUrl"][1])
    env_lines = {
        "STACK_NAME": args.stack_name,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "API_URL": api_url,
        "API_ID": api_id,
        "PUBLIC_BASE_URL": values.get("PageUrl", ""),
        "TABLE_NAME": outputs.get("TableName", resources.get("DataTable", "")),
        "PAGE_QUEUE_URL": outputs.get("PageQueueUrl", ""),
        "PAGE_DLQ_URL": outputs.get("PageDlqUrl", ""),
        "START_QUEUE_URL": outputs.get("StartQueueUrl", ""),
        "USER_POOL_ID": outputs.get("UserPoolId", ""),
        "USER_POOL_CLIENT_ID": outputs.get("UserPoolClientId", ""),
        # The key the emulator's Cognito signs this pool's access tokens with (made when its
        # JWKS is first read); tests mint tokens for users they name with it.
        "COGNITO_KEY_FILE": str(LOCAL / "ministack-state" / "cognito-pool-keys"
                                / f"{outputs.get('UserPoolId', '')}-access.pem"),
        "LASTFM_API_URL": lastfm_url,
        "LASTFM_ADMIN_URL": os.environ.get("LASTFM_ADMIN_URL", "http://127.0.0.1:5056"),
        "LASTFM_API_KEY": os.environ.get("LASTFM_API_KEY", SECRETS["LastfmApiKeyParameter"][1]),
        "LASTFM_RATE_LIMIT": values.get("LastfmRateLimit", PARAMETERS["LastfmRateLimit"][1]),
        "LASTFM_TIMEOUT_MS": values.get("LastfmTimeoutMs", PARAMETERS["LastfmTimeoutMs"][1]),
        "SPOTIFY_ADMIN_URL": os.environ.get("SPOTIFY_ADMIN_URL", "http://127.0.0.1:5057"),
        "API_FUNCTION_NAME": fn_names["ApiFunction"],
        "SYNC_START_FUNCTION_NAME": fn_names["SyncStartFunction"],
        "SYNC_WORKER_FUNCTION_NAME": fn_names["SyncWorkerFunction"],
    }
    LOCAL.mkdir(exist_ok=True)
    out = LOCAL / "stack.env"
    tmp = out.with_suffix(".env.tmp")
    # Values never contain spaces or quotes, so the file is both shell-sourceable
    # (`set -a; . .local/stack.env`) and trivially parsed by tests.
    tmp.write_text("".join(f"{k}={v}\n" for k, v in env_lines.items()))
    tmp.replace(out)
    log(f"wrote {out.relative_to(ROOT)}")
    print(f"API_URL={api_url}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - one readable line instead of a botocore traceback
        import botocore.exceptions as bx

        if isinstance(e, bx.EndpointConnectionError):
            log(f"cannot reach {os.environ.get('AWS_ENDPOINT_URL')}: is ministack running? (infra/stack.sh start)")
        elif isinstance(e, bx.ClientError):
            log(f"deploy failed: {e}")
        else:
            raise
        sys.exit(1)
