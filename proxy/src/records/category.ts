// Prompt text → one of a fixed set of categories, from cheap keyword rules. Pure: no I/O, no logger, no state.
// Runs on every request after the response, so it reads a bounded window of the text whatever its size, and its
// output is bounded too (always one of CATEGORIES), which makes it safe as a metrics label.
import type { PromptParts } from "../upstream/types.ts";
import { CATEGORIES, type Category, type Scope } from "./categories.ts";
import { RULE_TABLE } from "./category-rules.ts";

/** Which part of the prompt is being read; each rule has a weight per part. */
type Part = 0 | 1 | 2;
const USER: Part = 0;
const SYSTEM: Part = 1;
const PREVIOUS_USER: Part = 2;

interface Rule {
  readonly category: number;
  readonly pattern: RegExp;
  /** Indexed by Part. */
  readonly weights: readonly [number, number, number];
  readonly scope: Scope;
}

// Window sizes. The user message is read as its head plus its tail (an instruction often follows a pasted text).
const HEAD_CHARS = 2560;
const TAIL_CHARS = 512;
const LEAD_HEAD_CHARS = 320;
const LEAD_TAIL_CHARS = 240;
const SYSTEM_CHARS = 1024;
const PREVIOUS_USER_CHARS = 512;
// Transcript parsing looks for the last user message in this much of the end of the text, and for the system
// prompt at its start; nothing in between is read.
const TRANSCRIPT_TAIL_CHARS = 16_384;
// A system prompt usually states the task for the whole conversation, so it counts for most of its weight; an
// earlier user message only hints at the topic of a follow-up.
const SYSTEM_FACTOR = 0.75;
const PREVIOUS_USER_FACTOR = 0.5;
// …and, however many of its rules match, it adds at most this much to a category: less than one explicit
// instruction ("write a haiku") in the last message.
const PREVIOUS_USER_CAP = 2.5;
// Below this score the text is `other` rather than a guess.
const MIN_SCORE = 1;

const RULES: readonly Rule[] = RULE_TABLE.map(
  ([category, pattern, weight, scope, systemFactor]) => ({
    category: CATEGORIES.indexOf(category),
    pattern,
    weights: [
      weight,
      weight * (systemFactor ?? SYSTEM_FACTOR),
      weight * PREVIOUS_USER_FACTOR,
    ],
    scope,
  }),
);

const OTHER_INDEX = CATEGORIES.indexOf("other");

const ROLE_PREFIXES = ["system: ", "user: ", "assistant: ", "tool: "] as const;

function isTranscript(text: string): boolean {
  for (const prefix of ROLE_PREFIXES) if (text.startsWith(prefix)) return true;
  return false;
}

/** End of the message that starts at `from`: the next line that opens another role, or the end of `text`. */
function messageEnd(text: string, from: number): number {
  let end = text.length;
  for (const prefix of ROLE_PREFIXES) {
    const at = text.indexOf(`\n${prefix}`, from);
    if (at !== -1 && at < end) end = at;
  }
  return end;
}

/**
 * Splits a prompt rendered as `role: content` lines (the proxy's rendering of chat messages, system first) into
 * the last user message, the system prompt and the user message before it. A plain prompt is all `user`.
 */
function splitPrompt(text: string): PromptParts {
  if (!isTranscript(text)) return { user: text, system: "", previousUser: "" };
  let system = "";
  if (text.startsWith("system: ")) {
    system = text.slice(8, Math.min(messageEnd(text, 8), 8 + SYSTEM_CHARS));
  }
  // Only the end of a long transcript is searched, so the work stays bounded whatever the conversation length.
  const offset = Math.max(0, text.length - TRANSCRIPT_TAIL_CHARS);
  const tail = offset === 0 ? text : text.slice(offset);
  let start = tail.lastIndexOf("\nuser: ");
  if (start !== -1) start += 1;
  else if (offset === 0 && tail.startsWith("user: ")) start = 0;
  if (start === -1) {
    // generate with a system prompt renders `system: …` then the bare prompt; the first line is the system.
    if (
      offset === 0 &&
      text.startsWith("system: ") &&
      !tail.includes("\nassistant: ")
    ) {
      const newline = text.indexOf("\n");
      return {
        user: newline === -1 ? "" : text.slice(newline + 1),
        system:
          newline === -1
            ? system
            : text.slice(8, Math.min(newline, 8 + SYSTEM_CHARS)),
        previousUser: "",
      };
    }
    return { user: "", system, previousUser: "" };
  }
  const user = tail.slice(start + 6, messageEnd(tail, start + 6));
  let previousUser = "";
  if (start > 0) {
    let before = start >= 2 ? tail.lastIndexOf("\nuser: ", start - 2) : -1;
    if (before !== -1) before += 1;
    else if (tail.startsWith("user: ")) before = 0;
    if (before !== -1) {
      const end = Math.min(
        messageEnd(tail, before + 6),
        before + 6 + PREVIOUS_USER_CHARS,
      );
      previousUser = tail.slice(before + 6, end);
    }
  }
  return { user, system, previousUser };
}

/** Counts of the work done, for the bounded-work test; the hot path passes none. */
export interface CategoryWork {
  /** Regex tests run. */
  tests: number;
  /** Characters of the input those tests could read. */
  chars: number;
}

/** Adds, for each rule that matches its window of `text`, the rule's weight for `part` (each rule once). */
function scorePart(
  scores: Float64Array,
  text: string,
  maxChars: number,
  part: Part,
  work: CategoryWork | undefined,
): void {
  // Windows are cut before trimming so that nothing reads past them; slices of a flat V8 string share its
  // storage, so they do not copy the text either.
  const long = text.length > maxChars;
  const head = (long ? text.slice(0, maxChars - TAIL_CHARS) : text).trim();
  if (head === "") return;
  const tail = long ? text.slice(-TAIL_CHARS).trim() : "";
  const leadHead =
    head.length > LEAD_HEAD_CHARS ? head.slice(0, LEAD_HEAD_CHARS) : head;
  const whole = long ? tail : head;
  const leadTail =
    long || head.length > LEAD_HEAD_CHARS + LEAD_TAIL_CHARS
      ? whole.slice(-LEAD_TAIL_CHARS)
      : "";
  if (work) work.chars += head.length + tail.length;
  for (const rule of RULES) {
    const weight = rule.weights[part];
    if (weight === 0) continue;
    const lead = rule.scope === "lead";
    const first = lead ? leadHead : head;
    const second = lead ? leadTail : tail;
    if (work) work.tests += second === "" ? 1 : 2;
    if (
      rule.pattern.test(first) ||
      (second !== "" && rule.pattern.test(second))
    ) {
      scores[rule.category] = (scores[rule.category] ?? 0) + weight;
    }
  }
}

function scorePrompt(
  text: string,
  parts: PromptParts | undefined,
  work: CategoryWork | undefined,
): Float64Array {
  const scores = new Float64Array(CATEGORIES.length);
  parts ??= splitPrompt(text);
  scorePart(scores, parts.user, HEAD_CHARS + TAIL_CHARS, USER, work);
  scorePart(scores, parts.system, SYSTEM_CHARS, SYSTEM, work);
  if (parts.previousUser !== "") {
    const hint = new Float64Array(CATEGORIES.length);
    scorePart(
      hint,
      parts.previousUser,
      PREVIOUS_USER_CHARS,
      PREVIOUS_USER,
      work,
    );
    for (let i = 0; i < hint.length; i++) {
      scores[i] = (scores[i] ?? 0) + Math.min(hint[i] ?? 0, PREVIOUS_USER_CAP);
    }
  }
  return scores;
}

/** Highest score wins; ties go to the category listed first; below MIN_SCORE it is `other`. */
function pickCategory(scores: Float64Array): Category {
  let best = OTHER_INDEX;
  let bestScore = MIN_SCORE - Number.EPSILON;
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i] ?? 0;
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  return CATEGORIES[best] ?? "other";
}

/**
 * The prompt's category, always one of CATEGORIES (`other` when no rule is confident): the last user message
 * decides, and the system prompt and the user message before it weigh in less. The proxy passes those parts as
 * read from the request (`parts`, upstream/request.ts); without them, `text` is split as `role: content` lines
 * (tools and tests), which a message holding "\nuser: " can mislead. Reads bounded windows: cheap for any input.
 */
export function categorizePrompt(text: string, parts?: PromptParts): Category {
  return pickCategory(
    scorePrompt(typeof text === "string" ? text : "", parts, undefined),
  );
}

export interface CategoryExplanation {
  category: Category;
  /** Score per category (those above zero). */
  scores: Partial<Record<Category, number>>;
  work: CategoryWork;
}

/** categorizePrompt with its scores and the work it did, for tests and tuning; not for the hot path. */
export function explainCategory(
  text: string,
  parts?: PromptParts,
): CategoryExplanation {
  const work: CategoryWork = { tests: 0, chars: 0 };
  const scores = scorePrompt(typeof text === "string" ? text : "", parts, work);
  const named: Partial<Record<Category, number>> = {};
  scores.forEach((score, i) => {
    if (score > 0) named[CATEGORIES[i] ?? "other"] = score;
  });
  return { category: pickCategory(scores), scores: named, work };
}
