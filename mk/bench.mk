# The side-by-side benchmark of issue 7 (bench/, docs/performance.md): the same emulator reached directly, through
# nginx, through a bare http-proxy-3 pass-through and through our proxy (analytics on and off).
# Included by the Makefile (bash, -eu -o pipefail, Node on PATH).

# Besides Node the benchmark runs wrk (load), nginx (the floor) and redis-server (the records' outbox).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: bench bench-quick bench-deps

bench-deps: ## install wrk, nginx and redis-server (Debian) when missing
	@missing=(); \
	command -v wrk >/dev/null || missing+=(wrk); \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx); \
	command -v redis-server >/dev/null || missing+=(redis-server); \
	if [ $${#missing[@]} -gt 0 ]; then \
	  echo "==> apt-get install $${missing[*]}"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends "$${missing[@]}" >/dev/null; \
	fi

bench: install bench-deps ## benchmark the proxy side by side (~6 min, quiet machine); writes bench/results/latest.{md,json}
	node bench/main.ts $(BENCH_ARGS)

bench-quick: install bench-deps ## a one-minute smoke run of the benchmark; results in .cache/bench-quick
	node bench/main.ts --quick --out .cache/bench-quick $(BENCH_ARGS)
