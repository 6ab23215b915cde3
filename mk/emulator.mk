# Ollama emulator (test/fixtures/ollama-emulator): the upstream of integration tests and benchmarks.

.PHONY: test-emulator
test-emulator: install ## unit + integration tests of the Ollama emulator
	@echo "==> vitest (emulator)"
	npx vitest run test/unit/emulator test/integration/emulator
