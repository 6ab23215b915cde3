# Traffic generator (tools/traffic): realistic load through the proxy, so that every dashboard panel moves.
# Included by the Makefile (bash, -eu -o pipefail, Node on PATH). `node tools/traffic/main.ts --help` lists
# every option; the variables below map onto them, and TRAFFIC_ARGS passes anything else through.

# demo: steady mixed load (2 req/s for 5 minutes, a few injected errors); quick: 30 requests; stress: 32 at once.
MODE ?= demo
# Where the proxy listens; the CLI reads TRAFFIC_URL from the environment too.
TRAFFIC_URL ?= http://localhost:11434

TRAFFIC_FLAGS = --mode $(MODE) --url $(TRAFFIC_URL) \
	$(if $(DURATION),--duration $(DURATION)) \
	$(if $(RATE),--rate $(RATE)) \
	$(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) \
	$(if $(REQUESTS),--requests $(REQUESTS)) \
	$(if $(MODELS),--models $(MODELS)) \
	$(if $(SEED),--seed $(SEED)) \
	$(TRAFFIC_ARGS)

.PHONY: traffic
traffic: install ## send realistic load through the proxy (MODE=quick|demo|stress; DURATION, RATE, MODELS, TRAFFIC_URL, …)
	@case "$(MODE)" in quick|demo|stress) ;; *) echo "error: MODE must be quick, demo or stress (got '$(MODE)')" >&2; exit 2;; esac
	@echo "==> traffic: $(MODE) mode against $(TRAFFIC_URL) (Ctrl-C stops early and prints the summary)"
	node tools/traffic/main.ts $(strip $(TRAFFIC_FLAGS))
