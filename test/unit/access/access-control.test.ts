import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadAccessConfig } from "@proxy/access/access-config.ts";
import {
  createAccessControl,
  type AccessControl,
} from "@proxy/access/access-control.ts";
import { hashKey } from "@proxy/access/keys.ts";
import type { Admission } from "@proxy/exchange/admission.ts";
import {
  bearer,
  captureLogger,
  chat,
  contextFor,
  counterValue,
  createKeysDir,
  summaryWithTokens,
  testMetrics,
  type CapturedLogger,
  type KeysDir,
} from "../../fixtures/access/admission.ts";
import { parseExposition, sumOf } from "../../helpers/metrics.ts";
import { waitFor } from "../../helpers/wait-for.ts";

type Granted = Extract<Admission, { ok: true }>;
type Refused = Extract<Admission, { ok: false }>;

function granted(admission: Admission): Granted {
  if (!admission.ok)
    throw new Error(
      `refused: ${admission.status} ${admission.reason} ${admission.message}`,
    );
  return admission;
}

function refused(admission: Admission): Refused {
  if (admission.ok) throw new Error("expected a refusal");
  return admission;
}

describe("access control", () => {
  let keys: KeysDir;
  let access: AccessControl | undefined;
  let log: CapturedLogger;
  let telemetry: ReturnType<typeof testMetrics>;

  beforeEach(async () => {
    keys = await createKeysDir([
      { name: "web", models: ["llama3.*", "gpt-4o"] },
      { name: "ops", role: "admin" },
      {
        name: "batch",
        limits: {
          concurrent: 1,
          requests_per_minute: 100,
          tokens_per_day: 100,
        },
      },
    ]);
    log = captureLogger();
    telemetry = testMetrics();
  });
  afterEach(async () => {
    await access?.close();
    access = undefined;
    await keys.close();
  });

  const build = (env: Record<string, string> = {}, withKeys = true) => {
    const config = loadAccessConfig({
      ...(withKeys ? { API_KEYS_FILE: keys.file } : {}),
      MODEL_ALIASES: "gpt-4o=llama3.1:8b,gpt-4o-mini=qwen2.5:7b",
      ...env,
    });
    access = createAccessControl(config, {
      metrics: telemetry.metrics,
      logger: log.logger,
    });
    return access;
  };
  const key = (name: string) => bearer(keys.secrets[name]!);

  describe("with keys", () => {
    it.each(["/api/experimental/web_search", "/api/experimental/web_fetch"])(
      "%s needs an admin key or a key with web: true",
      async (path) => {
        await keys.write([
          { name: "web", models: ["llama3.*", "gpt-4o"] },
          { name: "ops", role: "admin" },
          { name: "searcher", web: true },
        ]);
        const control = build();
        const context = (name: string) =>
          contextFor("POST", path, { headers: key(name) });
        expect(refused(await control.admit(context("web")))).toMatchObject({
          status: 403,
          reason: "admin_required",
        });
        expect(granted(await control.admit(context("searcher"))).client).toBe(
          "searcher",
        );
        expect(granted(await control.admit(context("ops"))).client).toBe("ops");
      },
    );

    it("refuses a request without a key or with a wrong one (401), on native and /v1 routes", async () => {
      const control = build();
      for (const context of [
        chat("llama3.2"),
        contextFor("POST", "/v1/chat/completions", {
          body: { model: "llama3.2", messages: [] },
        }),
        contextFor("GET", "/api/tags"),
        contextFor("GET", "/v1/models"),
      ]) {
        const missing = refused(await control.admit(context));
        expect(missing).toMatchObject({ status: 401, reason: "unauthorized" });
        expect(missing.message).toContain("missing API key");
        expect(missing.headers).toEqual({
          "WWW-Authenticate": 'Bearer realm="ollama-proxy"',
        });
      }
      for (const headers of [
        bearer("olp_wrong"),
        { "X-API-Key": "olp_wrong" },
        { Authorization: `Basic ${Buffer.from("a:b").toString("base64")}` },
        bearer(hashKey(keys.secrets.web!)),
      ])
        expect(
          refused(await control.admit(chat("llama3.2", headers))),
        ).toMatchObject({
          status: 401,
          reason: "unauthorized",
          message: "invalid API key",
        });
    });

    it("admits a valid key from Authorization or X-API-Key and names the client after it", async () => {
      const control = build();
      expect(
        granted(await control.admit(chat("llama3.2", key("ops")))).client,
      ).toBe("ops");
      expect(
        granted(
          await control.admit(
            chat("llama3.2", { "X-API-Key": keys.secrets.ops! }),
          ),
        ).client,
      ).toBe("ops");
      expect(
        granted(
          await control.admit(
            contextFor("GET", "/api/tags", { headers: key("web") }),
          ),
        ).client,
      ).toBe("web");
    });

    it("lets CORS preflights and the root heartbeat through without a key", async () => {
      const control = build();
      expect((await control.admit(contextFor("OPTIONS", "/api/chat"))).ok).toBe(
        true,
      );
      expect((await control.admit(contextFor("HEAD", "/"))).ok).toBe(true);
      expect((await control.admit(contextFor("GET", "/"))).ok).toBe(true);
    });

    it.each([
      ["POST", "/api/pull", { model: "llama3.2" }],
      ["POST", "/api/push", { model: "me/llama3.2" }],
      ["POST", "/api/create", { model: "mine", from: "llama3.2" }],
      ["POST", "/api/copy", { source: "llama3.2", destination: "x" }],
      ["DELETE", "/api/delete", { model: "llama3.2" }],
      ["POST", "/api/blobs/sha256:" + "a".repeat(64), undefined],
      ["HEAD", "/api/blobs/sha256:" + "a".repeat(64), undefined],
      ["POST", "/api/me", undefined],
      ["POST", "/api/signout", undefined],
      ["DELETE", "/api/user/keys/c3NoLWVkMjU1MTk", undefined],
    ])("%s %s needs an admin key", async (method, path, body) => {
      const control = build();
      const context = (name: string) =>
        contextFor(method, path, { headers: key(name), body });
      expect(refused(await control.admit(context("web")))).toMatchObject({
        status: 403,
        reason: "admin_required",
      });
      expect(granted(await control.admit(context("ops"))).client).toBe("ops");
      await control.close();
      const open = build({ ADMIN_ROUTES_OPEN: "true" });
      expect((await open.admit(context("web"))).ok).toBe(true);
      expect((await open.admit(contextFor(method, path, { body }))).ok).toBe(
        false,
      );
    });

    it("keeps a key to its models, aliases included, on every inference route", async () => {
      const control = build();
      const web = key("web");
      for (const model of ["llama3.2", "llama3.1:8b", "gpt-4o", "GPT-4o"])
        expect((await control.admit(chat(model, web))).ok).toBe(true);
      const forbidden = refused(await control.admit(chat("qwen2.5:7b", web)));
      expect(forbidden).toMatchObject({
        status: 403,
        reason: "forbidden_model",
      });
      expect(forbidden.message).toBe(
        'model "qwen2.5:7b" is not allowed for this API key',
      );
      // gpt-4o-mini is an alias of qwen2.5:7b: neither name is on the list.
      expect(
        refused(await control.admit(chat("gpt-4o-mini", web))).reason,
      ).toBe("forbidden_model");
      for (const [path, body] of [
        ["/v1/chat/completions", { model: "qwen2.5:7b", messages: [] }],
        ["/v1/completions", { model: "qwen2.5:7b", prompt: "x" }],
        ["/v1/embeddings", { model: "qwen2.5:7b", input: "x" }],
        ["/v1/responses", { model: "qwen2.5:7b", input: "x" }],
        ["/v1/messages", { model: "qwen2.5:7b", messages: [], max_tokens: 5 }],
        ["/api/generate", { model: "qwen2.5:7b", prompt: "x" }],
        ["/api/embed", { model: "qwen2.5:7b", input: "x" }],
        ["/api/embeddings", { model: "qwen2.5:7b", prompt: "x" }],
      ] as const)
        expect(
          refused(
            await control.admit(
              contextFor("POST", path, { headers: web, body }),
            ),
          ).reason,
        ).toBe("forbidden_model");
      // Keys without a models list may use any model.
      expect((await control.admit(chat("qwen2.5:7b", key("ops")))).ok).toBe(
        true,
      );
    });

    it("refuses a restricted key's request when the model is unreadable or spelt twice", async () => {
      const control = build();
      const web = key("web");
      const noModel = contextFor("POST", "/api/chat", {
        headers: web,
        body: undefined,
      });
      expect(refused(await control.admit(noModel)).reason).toBe(
        "forbidden_model",
      );
      const twice = contextFor("POST", "/api/chat", {
        headers: web,
        body: { model: "llama3.2", Model: "qwen2.5:7b", messages: [] },
      });
      expect(refused(await control.admit(twice)).message).toContain(
        "more than one way",
      );
      // An unrestricted key is not affected: Ollama answers what it answers.
      const ops = contextFor("POST", "/api/chat", {
        headers: key("ops"),
        body: undefined,
      });
      expect((await control.admit(ops)).ok).toBe(true);
    });

    it("guards the proxy's own admin endpoints with an admin key", () => {
      const control = build();
      expect(control.authorizeAdmin({})).toMatchObject({
        ok: false,
        status: 401,
      });
      expect(
        control.authorizeAdmin({
          authorization: `Bearer ${keys.secrets.web!}`,
        }),
      ).toMatchObject({ ok: false, status: 403, reason: "admin_required" });
      expect(
        control.authorizeAdmin({ "x-api-key": keys.secrets.ops! }),
      ).toEqual({ ok: true, client: "ops" });
    });

    it("removes the key headers only when keys are on", () => {
      const headers = {
        authorization: "Bearer x",
        "x-api-key": "x",
        accept: "*/*",
      };
      build().stripCredentials(headers);
      expect(headers).toEqual({ accept: "*/*" });
    });

    it("labels metrics with configured key names only", () => {
      const control = build();
      expect(control.clientLabelOf("web")).toBe("web");
      expect(control.clientLabelOf("alice from a header")).toBe("_other");
      expect(control.clientLabelOf("")).toBe("_other");
    });

    it("re-reads the keys file on reload; a bad file keeps the previous keys", async () => {
      const control = build();
      await keys.write([{ name: "web" }, { name: "new" }]);
      await control.reload();
      expect(
        granted(await control.admit(chat("qwen2.5:7b", key("new")))).client,
      ).toBe("new");
      expect((await control.admit(chat("qwen2.5:7b", key("web")))).ok).toBe(
        true,
      );
      expect((await control.admit(chat("x", key("ops")))).ok).toBe(false);
      expect(control.clientLabelOf("new")).toBe("new");
      expect(control.clientLabelOf("ops")).toBe("_other");

      await writeFile(
        keys.file,
        `keys:\n  - name: web\n    hash: ${hashKey(keys.secrets.web!)}0\n`,
      );
      await control.reload();
      expect((await control.admit(chat("x", key("new")))).ok).toBe(true);
      const warning = log
        .lines()
        .find(
          (line) =>
            line.msg === "keys file rejected, keeping the previous keys",
        );
      expect(warning?.problem).toContain("keys[0] (web).hash");
    });

    it("picks up a changed keys file by itself", async () => {
      const control = build();
      expect((await control.admit(chat("x", key("ops")))).ok).toBe(true);
      await keys.write([{ name: "web" }]);
      await waitFor(
        async () => !(await control.admit(chat("x", key("ops")))).ok,
        {
          timeoutMs: 5000,
          message: "the removed key still works",
        },
      );
      expect((await control.admit(chat("x", key("web")))).ok).toBe(true);
    });

    it("never writes a key or its hash to the log", async () => {
      const control = build({ LIMIT_REQUESTS_PER_MINUTE: "1" });
      for (let i = 0; i < 3; i++)
        await control.admit(chat("llama3.2", key("web")));
      await control.admit(chat("llama3.2", bearer("olp_not_a_key_0123456789")));
      await keys.write([{ name: "web" }, { name: "ops", role: "admin" }]);
      await control.reload();
      await writeFile(
        keys.file,
        `keys:\n  - name: web\n    hash: ${hashKey(keys.secrets.web!)}Z\n`,
      );
      await control.reload();
      const text = log.text();
      expect(text).not.toBe("");
      for (const secret of [
        ...Object.values(keys.secrets),
        "olp_not_a_key_0123456789",
      ]) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(hashKey(secret).slice(7, 27));
      }
    });
  });

  it("keeps admin endpoints closed when keys are off and no token is set", () => {
    expect(build({}, false).authorizeAdmin({})).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it("opens admin endpoints to ANALYTICS_TOKEN, with keys on or off, and to nothing else", async () => {
    const token = "t0ken-of-at-least-16-chars";
    for (const withKeys of [false, true]) {
      const control = createAccessControl(
        loadAccessConfig(withKeys ? { API_KEYS_FILE: keys.file } : {}),
        { metrics: telemetry.metrics, logger: log.logger, adminToken: token },
      );
      expect(
        control.authorizeAdmin({ authorization: `Bearer ${token}` }),
      ).toEqual({
        ok: true,
        client: "analytics-token",
      });
      expect(control.authorizeAdmin({ "x-api-key": token }).ok).toBe(true);
      expect(
        control.authorizeAdmin({ authorization: `Bearer ${token}x` }),
      ).toMatchObject({
        ok: false,
        status: 401,
      });
      expect(control.authorizeAdmin({})).toMatchObject({
        ok: false,
        status: 401,
      });
      await control.close();
    }
  });

  describe("limits", () => {
    it("applies per client IP when keys are off", async () => {
      const control = build({ LIMIT_REQUESTS_PER_MINUTE: "2" }, false);
      expect(
        granted(await control.admit(chat("m", {}, "10.0.0.1"))).client,
      ).toBeUndefined();
      expect((await control.admit(chat("m", {}, "10.0.0.1"))).ok).toBe(true);
      const limited = refused(await control.admit(chat("m", {}, "10.0.0.1")));
      expect(limited).toMatchObject({ status: 429, reason: "rate_limited" });
      expect(limited.message).toContain("2 requests per minute");
      expect(Number(limited.headers?.["Retry-After"])).toBeGreaterThanOrEqual(
        59,
      );
      expect((await control.admit(chat("m", {}, "10.0.0.2"))).ok).toBe(true);
      // Only inference counts: listing models is free.
      expect(
        control.admit(contextFor("GET", "/api/tags", { clientIp: "10.0.0.1" })),
      ).toEqual({ ok: true });
    });

    it("lets a key's own limits override the defaults", async () => {
      const control = build({ LIMIT_CONCURRENT: "5" });
      const first = granted(await control.admit(chat("m", key("batch"))));
      expect(
        refused(await control.admit(chat("m", key("batch")))),
      ).toMatchObject({
        status: 429,
        reason: "concurrency",
        headers: { "Retry-After": "1" },
      });
      first.release!(summaryWithTokens(0, 0));
      await waitFor(async () => {
        const next = await control.admit(chat("m", key("batch")));
        if (next.ok) next.release!(summaryWithTokens(0, 0));
        return next.ok;
      });
    });

    it("charges tokens once, at release, and refuses the next request past the daily limit", async () => {
      const control = build();
      const first = granted(await control.admit(chat("m", key("batch"))));
      first.release!(summaryWithTokens(60, 50));
      first.release!(summaryWithTokens(60, 50));
      await waitFor(async () => {
        const next = await control.admit(chat("m", key("batch")));
        if (next.ok) next.release!(summaryWithTokens(0, 0));
        return !next.ok && next.reason === "tokens_exhausted"
          ? next
          : undefined;
      });
      const exhausted = refused(await control.admit(chat("m", key("batch"))));
      expect(exhausted.message).toContain("100 tokens per day");
      expect(Number(exhausted.headers?.["Retry-After"])).toBeGreaterThan(0);
      expect(Number(exhausted.headers?.["Retry-After"])).toBeLessThanOrEqual(
        86_400,
      );
    });

    it("charges tokens for a key whose only limit is tokens per day", async () => {
      const metered = build(
        { MAX_CONCURRENT: "0", LIMIT_TOKENS_PER_DAY: "10" },
        false,
      );
      granted(await metered.admit(chat("m"))).release!(summaryWithTokens(6, 6));
      await waitFor(async () => {
        const next = await metered.admit(chat("m"));
        return !next.ok && next.reason === "tokens_exhausted";
      });
    });

    it("queues requests beyond MAX_CONCURRENT and admits them as slots free up", async () => {
      const control = build(
        { MAX_CONCURRENT: "1", QUEUE_TIMEOUT_MS: "2000" },
        false,
      );
      const first = granted(await control.admit(chat("m")));
      let secondDone = false;
      const second = Promise.resolve(control.admit(chat("m"))).then(
        (admission) => {
          secondDone = true;
          return admission;
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(secondDone).toBe(false);
      first.release!(summaryWithTokens(1, 1));
      const admitted = granted(await second);
      admitted.release!(summaryWithTokens(1, 1));
      const samples = parseExposition(await telemetry.registry.metrics());
      expect(sumOf(samples, "ollama_proxy_queue_wait_seconds_count")).toBe(2);
      expect(
        sumOf(samples, "ollama_proxy_queue_wait_seconds_sum"),
      ).toBeGreaterThan(0.05);
    });

    it("answers 429 queue_timeout after QUEUE_TIMEOUT_MS and 429 queue_full beyond QUEUE_MAX", async () => {
      const control = build(
        { MAX_CONCURRENT: "1", QUEUE_TIMEOUT_MS: "100", QUEUE_MAX: "1" },
        false,
      );
      const first = granted(await control.admit(chat("m")));
      const waiting = control.admit(chat("m"));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(refused(await control.admit(chat("m")))).toMatchObject({
        status: 429,
        reason: "queue_full",
      });
      const timedOut = refused(await waiting);
      expect(timedOut).toMatchObject({
        status: 429,
        reason: "queue_timeout",
        headers: { "Retry-After": "1" },
      });
      first.release!(summaryWithTokens(0, 0));
      granted(await control.admit(chat("m"))).release!(summaryWithTokens(0, 0));
    });

    it("stops waiting when the client leaves, and frees what it held", async () => {
      const control = build(
        { MAX_CONCURRENT: "1", LIMIT_CONCURRENT: "1" },
        false,
      );
      const first = granted(await control.admit(chat("m", {}, "1.1.1.1")));
      const leaving = chat("m", {}, "2.2.2.2");
      const waiting = control.admit(leaving);
      setTimeout(() => leaving.socket.hangUp(), 30);
      expect(refused(await waiting)).toMatchObject({
        status: 499,
        reason: "client_closed",
      });
      first.release!(summaryWithTokens(0, 0));
      // 2.2.2.2's per-client lease went back: it may send again.
      granted(await control.admit(chat("m", {}, "2.2.2.2"))).release!(
        summaryWithTokens(0, 0),
      );
    });

    it("is synchronous for requests that take no limit", () => {
      const control = build({ MAX_CONCURRENT: "0" }, false);
      expect(control.admit(chat("m"))).toEqual({ ok: true, client: undefined });
      expect(control.admit(contextFor("GET", "/api/ps"))).toEqual({ ok: true });
    });

    it("counts no Redis degradation without Redis", async () => {
      const control = build({ LIMIT_REQUESTS_PER_MINUTE: "5" }, false);
      await control.admit(chat("m"));
      expect(
        await counterValue(telemetry.registry, "ollama_proxy_rejected_total"),
      ).toBe(0);
    });
  });

  describe("aliases and cost", () => {
    it("resolves aliases and prices tokens", async () => {
      const dir = await mkdtemp(join(tmpdir(), "pricing-"));
      try {
        const pricing = join(dir, "pricing.yaml");
        await writeFile(
          pricing,
          "models:\n  gpt-4o: { input: 2.5, output: 10 }\n",
        );
        const control = build({ PRICING_FILE: pricing }, false);
        expect(control.resolveAlias("gpt-4o")).toBe("llama3.1:8b");
        expect(control.resolveAlias("llama3.1:8b")).toBeUndefined();
        expect(control.costOf("gpt-4o", 1000, 500)).toBeCloseTo(0.0075, 12);
        expect(control.costOf("llama3.1:8b", 1000, 500)).toBeUndefined();
        await writeFile(
          pricing,
          "models:\n  gpt-4o: { input: 5, output: 10 }\n",
        );
        await control.reload();
        expect(control.costOf("gpt-4o", 1_000_000, 0)).toBe(5);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
