// An emulated Ollama and the real proxy process in front of it, as the proxy's integration tests use them.
import {
  createEmulator,
  type Emulator,
  type EmulatorOptions,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";

export interface Harness {
  readonly emulator: Emulator;
  readonly proxy: ProxyProcess;
  close(): Promise<void>;
}

export async function startHarness(
  options: { emulator?: EmulatorOptions; env?: Record<string, string> } = {},
): Promise<Harness> {
  const emulator = await createEmulator({
    host: "127.0.0.1",
    port: 0,
    ...options.emulator,
  });
  const proxy = await startProxy({ OLLAMA_URL: emulator.url, ...options.env });
  return {
    emulator,
    proxy,
    async close() {
      await proxy.stop("SIGKILL");
      await emulator.close();
    },
  };
}

/** Masks what legitimately differs between two identical calls: timestamps and random ids. */
export function normalizeBody(text: string): string {
  return text
    .replace(/"created_at":"[^"]*"/g, '"created_at":"*"')
    .replace(/"(created|created_at)":\d+/g, '"$1":0')
    .replace(/"expires_at":"[^"]*"/g, '"expires_at":"*"')
    .replace(/"modified_at":"[^"]*"/g, '"modified_at":"*"')
    .replace(
      /"id":"(chatcmpl|cmpl|resp|msg|call|fc|rs)[-_][^"]*"/g,
      '"id":"$1-*"',
    )
    .replace(/"(item_id|request_id)":"[^"]*"/g, '"$1":"*"')
    .replace(
      /"(total_duration|load_duration|prompt_eval_duration|eval_duration)":\d+/g,
      '"$1":0',
    );
}
