# The stack as code: compose.yaml (+ compose.gpu.yaml with GPU=1), its dashboards and its config tests.
# Included by the Makefile (bash, -eu -o pipefail, Node on PATH).

STACK_FILES := $(strip -f compose.yaml $(if $(filter 1 true yes,$(GPU)),-f compose.gpu.yaml))
STACK := docker compose $(STACK_FILES)
# down/ps/logs/clean see the GPU exporter too, whichever way the stack was started.
STACK_ALL := docker compose -f compose.yaml -f compose.gpu.yaml

.PHONY: up down logs ps clean pull-model dashboards test-config docker-check

# Fails with one clear line when Docker, Compose v2 or the engine is missing.
docker-check:
	@command -v docker >/dev/null 2>&1 || { echo "error: docker is not installed (https://docs.docker.com/engine/install/; Debian: apt-get install docker.io)" >&2; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "error: Docker Compose v2 (\`docker compose\`) is missing: run scripts/install-compose.sh, or install docker-compose-plugin" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "error: the Docker engine is not reachable: start dockerd (or Docker Desktop) and check that this user may use it" >&2; exit 1; }

# First run: settings from .env.example with a random Grafana admin password. Never overwrites an existing .env.
.env: | .env.example
	@password=$$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n'); \
	sed "s/^GRAFANA_ADMIN_PASSWORD=.*/GRAFANA_ADMIN_PASSWORD=$$password/" .env.example > .env; \
	echo "==> created .env from .env.example; Grafana login: admin / $$password"

up: .env docker-check ## start the stack and wait until it is healthy (GPU=1: NVIDIA variant)
	@echo "==> docker compose $(STACK_FILES) up -d --build --wait"
	$(STACK) up -d --build --wait
	@echo
	@echo "  Grafana      http://localhost:$$($(STACK) port grafana 3000 | sed 's/.*://')"
	@echo "  Ollama API   http://localhost:$$($(STACK) port proxy 11434 | sed 's/.*://')  (through the proxy)"
	@echo "  Prometheus   http://127.0.0.1:$$($(STACK) port prometheus 9090 | sed 's/.*://')"
	@echo "  Loki         http://127.0.0.1:$$($(STACK) port loki 3100 | sed 's/.*://')"
	@echo "  Next: make pull-model MODEL=llama3.2:3b"

down: docker-check ## stop the stack, keeping its data (models, metrics, records)
	@echo "==> docker compose down (volumes kept)"
	$(STACK_ALL) down --remove-orphans

logs: docker-check ## follow the stack's logs (SERVICE=proxy for one service)
	$(STACK_ALL) logs -f --tail=200 $(SERVICE)

ps: docker-check ## list the stack's containers and their health
	$(STACK_ALL) ps

clean: docker-check ## remove the stack AND its volumes (models, metrics, records) after a confirmation (YES=1 skips it)
	@if [ "$(YES)" != 1 ]; then \
	  if [ ! -t 0 ]; then echo "error: clean deletes every volume; confirm with: make clean YES=1" >&2; exit 1; fi; \
	  read -r -p "Delete the containers AND volumes (downloaded models, metrics, analytics records)? [y/N] " answer; \
	  case "$$answer" in y|Y|yes) ;; *) echo "aborted: nothing removed"; exit 1 ;; esac; \
	fi
	@echo "==> docker compose down --volumes"
	$(STACK_ALL) down --volumes --remove-orphans

# Streams Ollama's NDJSON pull progress on one line. Plain strings only: make would expand a "$".
define PULL_MODEL_JS
const [model, base] = process.argv.slice(1);
let res;
try {
  res = await fetch(base + "/api/pull", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: model, stream: true }),
  });
} catch (error) {
  console.error("error: no proxy at " + base + " (" + error.cause?.code + "); is the stack up? (make up)");
  process.exit(1);
}
if (!res.ok || !res.body) {
  console.error("error: HTTP " + res.status + " " + (await res.text()));
  process.exit(1);
}
const decoder = new TextDecoder();
let tail = "";
let last = "";
for await (const chunk of res.body) {
  const lines = (tail + decoder.decode(chunk, { stream: true })).split("\n");
  tail = lines.pop() ?? "";
  for (const line of lines.filter((l) => l.trim())) {
    const msg = JSON.parse(line);
    if (msg.error) {
      console.error("\nerror: " + msg.error);
      process.exit(1);
    }
    const pct = msg.total ? " " + Math.floor((100 * (msg.completed ?? 0)) / msg.total) + "%" : "";
    const text = msg.status + pct;
    if (text !== last) process.stdout.write("\r\x1b[K" + text);
    last = text;
  }
}
process.stdout.write("\n");
endef
export PULL_MODEL_JS

pull-model: ## pull a model through the proxy (so it is counted): make pull-model MODEL=llama3.2:3b
	@[ -n "$(MODEL)" ] || { echo "usage: make pull-model MODEL=<name>   e.g. MODEL=llama3.2:3b or MODEL=qwen3:0.6b" >&2; exit 2; }
	@port="$(PROXY_PUBLISHED_PORT)"; \
	[ -n "$$port" ] || [ ! -f .env ] || port=$$(sed -n 's/^PROXY_PUBLISHED_PORT=//p' .env | tail -n 1); \
	echo "==> POST http://127.0.0.1:$${port:-11434}/api/pull {\"model\":\"$(MODEL)\"}"; \
	node --input-type=module -e "$$PULL_MODEL_JS" "$(MODEL)" "http://127.0.0.1:$${port:-11434}"

dashboards: install ## regenerate grafana/dashboards/**/*.json from grafana/src (commit the result)
	@echo "==> node grafana/src/build.ts"
	node grafana/src/build.ts

test-config: install ## static checks of the stack: compose, Dockerfile, promtool, Loki keys, dashboards, PromQL/LogQL
	@echo "==> vitest --project config"
	npx vitest run --project config
