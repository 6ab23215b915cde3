// Metric values equal what Ollama reported, request by request; labels stay bounded.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scrape, sumOf } from "../../helpers/metrics.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { startHarness, type Harness } from "./harness.ts";

async function post(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  });
  return { response, text: await response.text() };
}

/** Final NDJSON line or whole JSON object of a direct response: the counts Ollama reported. */
function finalObject(text: string): Record<string, number> {
  const lines = text.trim().split("\n");
  return JSON.parse(lines.at(-1)!) as Record<string, number>;
}

describe("metrics", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
    await waitFor(
      async () =>
        sumOf(await scrape(harness.proxy.url), "ollama_upstream_up") === 1,
      {
        timeoutMs: 5000,
      },
    );
  });
  afterAll(() => harness.close());

  it("counts exactly the tokens Ollama reported, per model and endpoint", async () => {
    const chat = {
      model: "llama3.2",
      messages: [{ role: "user", content: "Explain TCP slow start" }],
    };
    const direct = finalObject(
      (await post(harness.emulator.url, "/api/chat", chat)).text,
    );
    const before = await scrape(harness.proxy.url);
    const proxied = finalObject(
      (await post(harness.proxy.url, "/api/chat", chat)).text,
    );
    expect(proxied.eval_count).toBe(direct.eval_count);
    const after = await scrape(harness.proxy.url);
    const labels = { model: "llama3.2:latest", endpoint: "/api/chat" };
    expect(
      sumOf(after, "ollama_prompt_tokens_total", labels) -
        sumOf(before, "ollama_prompt_tokens_total", labels),
    ).toBe(direct.prompt_eval_count);
    expect(
      sumOf(after, "ollama_completion_tokens_total", labels) -
        sumOf(before, "ollama_completion_tokens_total", labels),
    ).toBe(direct.eval_count);
    expect(
      sumOf(after, "ollama_requests_total", { ...labels, status: "200" }) -
        sumOf(before, "ollama_requests_total", { ...labels, status: "200" }),
    ).toBe(1);
    expect(
      sumOf(after, "ollama_time_to_first_token_seconds_count", labels),
    ).toBeGreaterThan(
      sumOf(before, "ollama_time_to_first_token_seconds_count", labels),
    );
    expect(
      sumOf(after, "ollama_eval_duration_seconds_sum", {
        model: "llama3.2:latest",
      }),
    ).toBeGreaterThan(0);
    expect(
      sumOf(after, "ollama_tokens_per_second_count", {
        model: "llama3.2:latest",
      }),
    ).toBeGreaterThan(0);
    expect(sumOf(after, "ollama_requests_in_flight")).toBe(0);
  });

  it("counts tokens on /v1 streams even when the client did not ask for usage", async () => {
    const body = {
      model: "llama3.2",
      stream: true,
      messages: [{ role: "user", content: "Count to five" }],
    };
    const direct = await post(harness.emulator.url, "/v1/chat/completions", {
      ...body,
      stream_options: { include_usage: true },
    });
    const usage = direct.text
      .split("\n\n")
      .map((frame) => frame.replace(/^data: /, ""))
      .filter((data) => data.includes('"usage"'))
      .map(
        (data) =>
          JSON.parse(data) as {
            usage: { prompt_tokens: number; completion_tokens: number };
          },
      )
      .at(-1)!.usage;
    const labels = {
      model: "llama3.2:latest",
      endpoint: "/v1/chat/completions",
    };
    const before = await scrape(harness.proxy.url);
    const proxied = await post(harness.proxy.url, "/v1/chat/completions", body);
    expect(proxied.text).not.toContain('"usage"');
    const after = await scrape(harness.proxy.url);
    expect(
      sumOf(after, "ollama_completion_tokens_total", labels) -
        sumOf(before, "ollama_completion_tokens_total", labels),
    ).toBe(usage.completion_tokens);
    expect(
      sumOf(after, "ollama_prompt_tokens_total", labels) -
        sumOf(before, "ollama_prompt_tokens_total", labels),
    ).toBe(usage.prompt_tokens);
  });

  it("counts embeddings tokens", async () => {
    const body = { model: "all-minilm", input: ["alpha beta", "gamma"] };
    const direct = JSON.parse(
      (await post(harness.emulator.url, "/api/embed", body)).text,
    ) as {
      prompt_eval_count: number;
    };
    const labels = { model: "all-minilm:latest", endpoint: "/api/embed" };
    const before = await scrape(harness.proxy.url);
    await post(harness.proxy.url, "/api/embed", body);
    const after = await scrape(harness.proxy.url);
    expect(
      sumOf(after, "ollama_prompt_tokens_total", labels) -
        sumOf(before, "ollama_prompt_tokens_total", labels),
    ).toBe(direct.prompt_eval_count);
  });

  it("labels an error after a 200 as stream_error and failures before the stream by their status", async () => {
    await post(
      harness.proxy.url,
      "/api/generate",
      { model: "llama3.2", prompt: "x" },
      { "x-emulator-fault": "error-mid-stream" },
    );
    await post(
      harness.proxy.url,
      "/api/generate",
      { model: "llama3.2", prompt: "x" },
      { "x-emulator-fault": "model-not-found" },
    );
    const samples = await scrape(harness.proxy.url);
    expect(
      sumOf(samples, "ollama_requests_total", {
        endpoint: "/api/generate",
        status: "stream_error",
      }),
    ).toBe(1);
    expect(
      sumOf(samples, "ollama_requests_total", {
        endpoint: "/api/generate",
        status: "404",
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("never turns client input into new label values", async () => {
    for (let i = 0; i < 5; i++) {
      await post(harness.proxy.url, "/api/chat", {
        model: `made-up-${i}`,
        messages: [{ role: "user", content: "x" }],
      });
      await fetch(`${harness.proxy.url}/random/path/${i}`);
    }
    const samples = await scrape(harness.proxy.url);
    const models = new Set(
      samples
        .filter((s) => s.name === "ollama_requests_total")
        .map((s) => s.labels.model),
    );
    const endpoints = new Set(
      samples
        .filter((s) => s.name === "ollama_requests_total")
        .map((s) => s.labels.endpoint),
    );
    expect([...models].some((m) => m?.startsWith("made-up"))).toBe(false);
    expect(models.has("_other")).toBe(true);
    expect([...endpoints].some((e) => e?.startsWith("/random"))).toBe(false);
    expect(endpoints.has("other")).toBe(true);
  });

  it("exposes Ollama's version, loaded models and their memory from polling", async () => {
    await post(harness.proxy.url, "/api/generate", {
      model: "llama3.2",
      prompt: "load me",
    });
    const samples = await waitFor(
      async () => {
        const s = await scrape(harness.proxy.url);
        return sumOf(s, "ollama_model_loaded", { model: "llama3.2:latest" }) ===
          1
          ? s
          : undefined;
      },
      { timeoutMs: 5000 },
    );
    expect(
      samples.find((s) => s.name === "ollama_upstream_info")?.labels.version,
    ).toMatch(/^\d+\.\d+\.\d+/);
    expect(
      sumOf(samples, "ollama_model_memory_bytes", {
        model: "llama3.2:latest",
        kind: "total",
      }),
    ).toBeGreaterThan(0);
    expect(
      sumOf(samples, "ollama_model_expires_at_seconds", {
        model: "llama3.2:latest",
      }),
    ).toBeGreaterThan(Date.now() / 1000);
    expect(
      sumOf(samples, "ollama_proxy_process_resident_memory_bytes"),
    ).toBeGreaterThan(0);
  });

  it("counts request and response bytes per endpoint", async () => {
    const before = await scrape(harness.proxy.url);
    const body = { model: "llama3.2", prompt: "bytes", stream: false };
    const { text } = await post(harness.proxy.url, "/api/generate", body);
    const after = await scrape(harness.proxy.url);
    const labels = { endpoint: "/api/generate" };
    expect(
      sumOf(after, "ollama_request_bytes_total", labels) -
        sumOf(before, "ollama_request_bytes_total", labels),
    ).toBe(Buffer.byteLength(JSON.stringify(body)));
    expect(
      sumOf(after, "ollama_response_bytes_total", labels) -
        sumOf(before, "ollama_response_bytes_total", labels),
    ).toBe(Buffer.byteLength(text));
  });
});
