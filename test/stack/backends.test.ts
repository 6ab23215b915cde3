// The two-Ollama overlay (compose.backends.yaml) in Docker: the proxy and both Ollamas (with Redis and Loki, which
// the proxy waits for) brought up under a project of their own. A pull through the proxy lands on both, chats are
// served and named by backend in /metrics, and stopping one Ollama leaves the traffic served by the other.
import {
  afterAll,
  beforeAll,
  beforeEach,
  describe,
  expect,
  inject,
  it,
} from "vitest";
import { scrape, sumOf } from "../helpers/metrics.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { createStack, missingServices } from "./compose-stack.ts";

const images = inject("stack");
const BACKENDS = ["ollama", "ollama-2"];

describe.skipIf(images.unavailable !== undefined)(
  `two Ollama backends (compose.backends.yaml) on ${images.offline ? "stand-in" : "real"} images`,
  () => {
    const stack = createStack({
      without: missingServices(images.images),
      backends: true,
    });
    let proxyUrl = "";
    let chatModel = "";
    let failed = false;

    const chat = async () => {
      const response = await fetch(`${proxyUrl}/api/chat`, {
        method: "POST",
        body: JSON.stringify({
          model: chatModel,
          messages: [{ role: "user", content: "Say hi." }],
          stream: false,
          options: { num_predict: 8 },
        }),
      });
      await response.text();
      return response.status;
    };
    const tagsOf = async (backend?: string) => {
      const response = await fetch(`${proxyUrl}/api/tags`, {
        headers: backend ? { "X-Ollama-Backend": backend } : {},
      });
      const body = (await response.json()) as {
        models: Array<{ name: string }>;
      };
      return body.models.map((m) => m.name);
    };

    beforeAll(async () => {
      await stack.up(["proxy"]);
      proxyUrl = await stack.url("proxy");
      chatModel = (await stack.config())["x-stack-test"]?.["chat-model"] ?? "";
      expect(chatModel).not.toBe("");
    });

    beforeEach((context) => {
      context.onTestFailed(() => {
        failed = true;
      });
    });

    afterAll(async () => {
      if (failed)
        for (const service of ["proxy", ...BACKENDS])
          console.error(
            `--- ${service} logs ---\n${await stack.serviceLogs(service, 80)}`,
          );
      await stack.down();
    }, 120_000);

    it("pulls through the proxy onto both Ollamas, and lists the model once", async () => {
      const pull = await fetch(`${proxyUrl}/api/pull`, {
        method: "POST",
        body: JSON.stringify({ model: chatModel, stream: false }),
      });
      expect(pull.status).toBe(200);
      expect(await pull.json()).toEqual({ status: "success" });
      for (const backend of BACKENDS)
        expect(await tagsOf(backend)).toContain(chatModel);
      expect(
        (await tagsOf()).filter((name) => name === chatModel),
      ).toHaveLength(1);
    });

    it("serves chats and names the backend that served them in /metrics", async () => {
      for (let i = 0; i < 4; i++) expect(await chat()).toBe(200);
      const samples = await scrape(proxyUrl);
      const served = BACKENDS.map((backend) =>
        sumOf(samples, "ollama_requests_total", {
          endpoint: "/api/chat",
          status: "200",
          backend,
        }),
      );
      expect(served[0]! + served[1]!).toBe(4);
      for (const backend of BACKENDS)
        expect(sumOf(samples, "ollama_upstream_up", { backend })).toBe(1);
    });

    it("keeps serving with one Ollama stopped, and shows it out of the rotation", async () => {
      await stack.compose(["stop", "ollama-2"]);
      for (let i = 0; i < 4; i++) expect(await chat()).toBe(200);
      await waitFor(
        async () => {
          const samples = await scrape(proxyUrl);
          return (
            sumOf(samples, "ollama_proxy_backend_healthy", {
              backend: "ollama-2",
            }) === 0 &&
            sumOf(samples, "ollama_upstream_up", { backend: "ollama-2" }) === 0
          );
        },
        { timeoutMs: 30_000, message: "ollama-2 still counted as up" },
      );
      expect(await tagsOf()).toContain(chatModel);
    });
  },
);
