# The two commands of the README, plus lint and CI.
.PHONY: dev test lint ci tools bench-limiter

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

tools:
	@scripts/tools.sh

lint: tools
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	.venv/bin/cfn-lint infra/template.yaml

ci:
	@.ci/run

bench-limiter:
	@scripts/bench.sh --bench limiter
