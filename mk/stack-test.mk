# The stack tier: the whole compose stack in Docker, driven by testcontainers (test/stack/). Real images when a
# registry is reachable, local stand-ins otherwise (scripts/stack-images.sh). Without Docker the suite says so
# in one line and is skipped. STACK_IMAGES_MODE=real (CI) never builds a stand-in.

VITEST_STACK_REPORT := .cache/vitest-stack-report.json

.PHONY: test-stack
test-stack: install ## whole stack in Docker (testcontainers); stand-in images when offline
	@echo "==> test-stack: Docker engine"
	@if command -v dockerd >/dev/null 2>&1; then \
		scripts/start-dockerd.sh --no-install || echo "test-stack: no Docker engine could be started"; \
	else echo "test-stack: dockerd is not installed (scripts/start-dockerd.sh installs it on Debian)"; fi
	@echo "==> test-stack: vitest --config test/stack/vitest.config.ts"
	@mkdir -p .cache
	npx vitest run --config test/stack/vitest.config.ts --reporter=verbose --reporter=json \
		--outputFile.json=$(VITEST_STACK_REPORT)

.PHONY: stack-images
stack-images: ## build the local stand-in images of the stack (offline), or pull the real ones
	scripts/stack-images.sh
