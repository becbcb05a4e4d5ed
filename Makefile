# Local stack: template.yaml deployed into ministack (offline AWS emulator) plus
# the Last.fm/Spotify stand-ins. See docs/LOCAL-STACK.md.
#
# Settings are read from the environment or the command line and handed to
# infra/deploy.py, which owns their defaults, e.g.
#   make up LASTFM_API_URL=https://ws.audioscrobbler.com/2.0/ LASTFM_API_KEY=...
# Recognised: LASTFM_API_URL LASTFM_API_KEY LASTFM_RATE_LIMIT
#   CURSOR_SECRET MAX_RECEIVES WORKER_CONCURRENCY SYNC_SCHEDULE RUST_LOG
#   SPOTIFY_API_URL SPOTIFY_ACCOUNTS_URL SPOTIFY_CLIENT_ID SPOTIFY_CLIENT_SECRET
#   SPOTIFY_REDIRECT_URI PAGE_URL LASTFM_STANDIN_ARGS
#
# `make deploy` (AWS, with `sam`) and `make package` are described in README.md.
#
# PROFILE=debug deploys target/debug binaries (faster to build, what
# `cargo test` already compiled); benchmarks want the default, release.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
PROFILE ?= release
DEPLOY_ARGS ?=
FUNCTION_PACKAGES := -p api -p sync-start -p sync-worker
# Recursive (=), so a target-specific PROFILE (make test uses debug) reaches the build too.
CARGO_PROFILE_FLAG = $(if $(filter release,$(PROFILE)),--release,)
PY_STAMP := .local/pydeps.stamp
# cfn-lint through the interpreter pip installed it for: its console script
# may not be on PATH (user installs, pyenv shims not yet rehashed).
CFN_LINT := $(PYTHON) -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())'

# Every command that talks to the stack needs its endpoints and names.
WITH_STACK_ENV := set -a; . .local/stack.env; set +a;

# `make -j` must not run deploy before the build or the services.
.NOTPARALLEL:

.PHONY: up down logs status deps build services deploy-local lint-template test demo bench-sync bench-api deploy package sam-cli

# Last line of output: API_URL=<base url>.
up: deps build services deploy-local

# Installs only when a module is missing or requirements.txt changed since the
# last install on this machine.
deps:
	@mkdir -p .local
	@if ! { [ $(PY_STAMP) -nt infra/requirements.txt ] && \
	        $(PYTHON) -c "import importlib.util as u, sys; \
	          sys.exit(any(u.find_spec(m) is None for m in ('ministack', 'boto3', 'samtranslator', 'cfnlint', 'pytest')))"; }; then \
	  echo "[deps] pip install -r infra/requirements.txt" >&2; \
	  $(PYTHON) -m pip install -q --disable-pip-version-check -r infra/requirements.txt 2>&1 \
	    | { grep -v "Running pip as the 'root' user" || true; }; \
	  touch $(PY_STAMP); \
	fi

build:
	@cargo build $(CARGO_PROFILE_FLAG) $(FUNCTION_PACKAGES)

services:
	@infra/stack.sh start

deploy-local:
	@$(PYTHON) infra/deploy.py --profile $(PROFILE) $(DEPLOY_ARGS)

down:
	@infra/stack.sh stop

status:
	@infra/stack.sh status

logs:
	@infra/stack.sh logs

lint-template: deps sam-cli
	@$(CFN_LINT) template.yaml && echo "cfn-lint: template.yaml OK"
	@AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM_RUN) validate --lint --template template.yaml

# The AWS SAM CLI, in its own virtualenv (it pins versions of its own).
SAM_VENV := .local/sam-venv
SAM := $(SAM_VENV)/bin/sam
SAM_RUN := SAM_CLI_TELEMETRY=0 PATH="$(abspath $(SAM_VENV))/bin:$$PATH" $(SAM)
sam-cli:
	@if [ ! -x $(SAM) ]; then \
	  echo "[sam] installing aws-sam-cli into $(SAM_VENV)" >&2; \
	  mkdir -p .local && $(PYTHON) -m venv $(SAM_VENV) && \
	  $(SAM_VENV)/bin/pip install -q --disable-pip-version-check "aws-sam-cli==1.170.0" "cargo-lambda==1.9.2"; \
	fi

# Three aarch64 Lambda bootstraps, built the way `sam build` builds them for AWS.
package: sam-cli
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	@start=$$(date +%s); $(SAM_RUN) build --beta-features --template template.yaml; \
	  echo "[package] sam build took $$(( $$(date +%s) - start )) s"
	@for f in .aws-sam/build/*/bootstrap; do \
	  printf '%-55s %s, %s bytes\n' "$$f" "$$(file -b $$f | cut -d, -f1-2)" "$$(stat -c %s $$f)"; \
	done

# Deploys to AWS with your credentials: `sam deploy --guided` asks for every parameter the
# first time (README.md, "Deploy to AWS") and keeps the answers in samconfig.toml.
deploy: package
	@if [ -f samconfig.toml ]; then $(SAM_RUN) deploy; \
	else $(SAM_RUN) deploy --guided --capabilities CAPABILITY_IAM; fi

# Tests deploy the debug build (the same code; saves a second full compile) with a short Last.fm
# timeout so injected stalls cost seconds, not minutes.
test: PROFILE = debug
test: export LASTFM_TIMEOUT_MS = 4000
test: up
	@$(WITH_STACK_ENV) cargo test --workspace
	@$(PYTHON) -m pytest -q infra/standins
	@$(PYTHON) -m pytest -q infra/tests
	@$(WITH_STACK_ENV) tests/browser/run.sh

demo: up
	@$(WITH_STACK_ENV) cargo run -q --release -p karaoke-cli -- import-catalog infra/catalog/sample.csv
	@$(WITH_STACK_ENV) cargo run -q --release -p karaoke-cli -- demo

# Three runs: the plan's setting (5 requests/s, 500 ms per Last.fm answer); the same with the
# history changing while the full sync reads it (a copy of the user: uploads and deletions at
# three points, then one "Sync now"); and a fast stand-in (50 requests/s, 20 ms, 16 workers:
# its rate bound is 22 s, and the finishing step's fold of ~55,000 tracks takes the local
# emulator ~25-30 s more, see docs/PERFORMANCE.md); then the stack goes back to defaults.
bench-sync:
	@$(MAKE) --no-print-directory up
	@$(WITH_STACK_ENV) cargo run -q --release -p karaoke-cli -- bench-sync --latency-ms 500 --label "heavy, 500 ms, 5 req/s"
	@$(WITH_STACK_ENV) cargo run -q --release -p karaoke-cli -- bench-sync --latency-ms 500 --moving --label "heavy, 500 ms, 5 req/s"
	@$(MAKE) --no-print-directory up LASTFM_RATE_LIMIT=50 WORKER_CONCURRENCY=16
	@$(WITH_STACK_ENV) cargo run -q --release -p karaoke-cli -- bench-sync --latency-ms 20 --label "heavy, 20 ms, 50 req/s"
	@$(MAKE) --no-print-directory up

bench-api: up
	@$(WITH_STACK_ENV) cargo run --release -p karaoke-cli -- bench-api
