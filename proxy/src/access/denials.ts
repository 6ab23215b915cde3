// The shape of every refusal access control gives, and the headers that go with them.
import type { Admission } from "../exchange/admission.ts";

export const deny = (
  status: number,
  reason: string,
  message: string,
  headers?: Record<string, string>,
): Admission => ({ ok: false, status, reason, message, headers });

export const retryAfter = (seconds: number) => ({
  "Retry-After": String(Math.max(1, Math.ceil(seconds))),
});
