// The categoriser's vocabulary: the categories, in tie-break order, and the shape of a rule.

// Ties go to the category listed first, so explicit tasks (summarize, translate, …) come before topics (code, …).
export const CATEGORIES = [
  "summarize",
  "translate",
  "rewrite",
  "extraction",
  "classification",
  "qa-context",
  "code",
  "sql",
  "data-analysis",
  "math",
  "reasoning",
  "creative",
  "brainstorm",
  "roleplay",
  "conversation",
  "factual",
  "other",
] as const;

export type Category = (typeof CATEGORIES)[number];

/** Where a rule looks: `lead` = the first and last few hundred characters, where instructions usually sit. */
export type Scope = "lead" | "body";

/** [category, pattern, weight, scope, system factor (default SYSTEM_FACTOR)]; see category-rules.ts. */
export type Rule = readonly [Category, RegExp, number, Scope, number?];
