# The two commands of the README, plus lint and CI.
.PHONY: dev dev-sso test lint ci tools contract scim-conformance portal-browser portal-screenshots bench bench-limiter bench-sso bench-events bench-hot bench-directory bench-cedar generate docs

dev:
	@scripts/dev.sh

# SSO login end to end: make dev plus a local OpenID Provider as a login
# connection and a demo app signing in through it (scripts/dev-sso.sh;
# scripts/dev-sso.sh --smoke signs in once without a browser).
dev-sso:
	@scripts/dev-sso.sh

test:
	@scripts/test.sh

# What dev, test, lint, contract, scim-conformance and docs use, at once
# (each of them installs its own on first use).
tools:
	@scripts/tools.sh all

lint:
	@scripts/tools.sh lint
	cargo fmt --all --check
	cargo xtask generate --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	.venv-lint/bin/cfn-lint infra/template.yaml
	SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 .venv-sam/bin/sam validate --lint -t infra/template.yaml
	.venv-lint/bin/openapi-spec-validator docs/openapi.json
	infra/deploy_test.sh

# Bounded schemathesis run of docs/openapi.json against the local stack.
contract:
	@scripts/contract.sh

# The SCIM surface against the local stack, checked by scim2-tester,
# scim-sanity's strict probe and scim2-client driving every endpoint.
scim-conformance:
	@scripts/scim-conformance.sh

# The admin portal in headless Chromium (Debian's, driven by Playwright) on
# each emulator's whole local stack, side by side: tests/portal/browser.py.
portal-browser:
	@scripts/portal-browsers.sh

# The portal's views as docs/portal/*.png, from a run on DynamoDB Local.
portal-screenshots:
	@scripts/portal-browser.sh --emulator ddb --screenshots docs/portal

ci:
	@.ci/run

# Writes what the route table implies: function crates, the local router, the
# template's functions, events/, docs/openapi.json, the Cedar action list.
generate:
	cargo xtask generate

# Renders docs/openapi.json into docs/api.html (Redoc, one self-contained page).
docs:
	@scripts/api-docs.sh
	cargo xtask generate

# Every function against the hello-world floor (docs/performance.md).
# make bench ARGS=--check fails on a missed target; BENCH_ARM64=1 adds arm64 sizes.
bench:
	@scripts/bench.sh functions $(ARGS)

bench-limiter:
	@scripts/bench.sh limiter

# What the identity providers' key cache costs a link (cold, warm, unknown kid).
bench-sso:
	@scripts/bench.sh sso_keys

# What building the Cedar engine costs a cold start, by part.
bench-cedar:
	@scripts/bench.sh cedar

# What publishing and reading events costs per event.
bench-events:
	@scripts/bench.sh events

# End-user creation at a pro organization's full rate, on DynamoDB Local and
# with AWS's hot-item behaviour modelled (transaction conflicts, partition
# throughput). ARGS="--hold-ms 10 --seconds 30 --users 10000" are the defaults.
bench-hot:
	@scripts/bench.sh hot $(ARGS)

# A directory provisioning 10,000 users and 100 groups through SCIM at a pro
# organization's rate, on DynamoDB Local and the AWS hot-item model.
bench-directory:
	@scripts/bench.sh directory $(ARGS)
