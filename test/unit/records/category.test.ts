// The prompt categoriser: bounded output, bounded work, and how often it agrees with the curated prompt set.
import { categorizePrompt, explainCategory } from "@proxy/records/category.ts";
import { CATEGORIES, type Category } from "@proxy/records/category-rules.ts";
import { afterAll, describe, expect, it } from "vitest";
import {
  loadPromptSet,
  toMessages,
  type PromptEntry,
} from "../../../tools/traffic/prompt-set.ts";

/** How the proxy renders chat messages (upstream/request.ts): one `role: content` line per message. */
const renderChat = (entry: PromptEntry): string =>
  toMessages(entry)
    .map((message) => `${message.role}: ${message.content}`)
    .join("\n");

/** How the proxy renders /api/generate: the system line, then the bare prompt. */
const renderGenerate = (entry: PromptEntry): string =>
  entry.system !== undefined
    ? `system: ${entry.system}\n${entry.prompt}`
    : entry.prompt;

const prompts = loadPromptSet();

function accuracy(render: (entry: PromptEntry) => string) {
  const perCategory = new Map<string, { right: number; total: number }>();
  let right = 0;
  for (const entry of prompts) {
    const counts = perCategory.get(entry.category) ?? { right: 0, total: 0 };
    counts.total++;
    if (categorizePrompt(render(entry)) === entry.category) {
      counts.right++;
      right++;
    }
    perCategory.set(entry.category, counts);
  }
  return { overall: right / prompts.length, perCategory };
}

const report: string[] = [];
afterAll(() => {
  if (report.length > 0) console.info(report.join("\n"));
});

describe("CATEGORIES", () => {
  it("is a small fixed set of distinct labels that includes other", () => {
    expect(CATEGORIES.length).toBeLessThanOrEqual(50);
    expect(new Set(CATEGORIES).size).toBe(CATEGORIES.length);
    expect(CATEGORIES).toContain("other");
    for (const category of CATEGORIES) {
      // Safe as a Prometheus label value and a LogQL literal without escaping.
      expect(category).toMatch(/^[a-z][a-z-]*$/);
    }
  });

  it("covers every category of the curated prompt set", () => {
    for (const entry of prompts) {
      expect(CATEGORIES as readonly string[]).toContain(entry.category);
    }
  });
});

describe("accuracy over the curated prompt set", () => {
  it.each([
    ["chat", renderChat],
    ["generate", renderGenerate],
  ] as const)(
    "agrees with the curated category for most prompts rendered as %s",
    (name, render) => {
      const { overall, perCategory } = accuracy(render);
      report.push(
        `categoriser accuracy (${name} rendering): ${(overall * 100).toFixed(1)}% of ${prompts.length}`,
      );
      for (const [category, { right, total }] of [...perCategory].sort()) {
        report.push(
          `  ${category.padEnd(16)} ${String(right).padStart(3)}/${String(total).padEnd(3)} ${((right / total) * 100).toFixed(0)}%`,
        );
        // Puzzles and role play have the fewest keywords; no category may fall apart entirely.
        expect(right / total, category).toBeGreaterThanOrEqual(0.5);
      }
      expect(overall).toBeGreaterThanOrEqual(0.85);
    },
  );

  it("returns one of CATEGORIES for every curated prompt, in every rendering", () => {
    for (const entry of prompts) {
      for (const text of [
        renderChat(entry),
        renderGenerate(entry),
        entry.prompt,
      ]) {
        expect(CATEGORIES).toContain(categorizePrompt(text));
      }
    }
  });
});

// Written after the rules, as a check on prompts they were not built from. The first run scored 90%; its misses
// led to a few general fixes (e.g. "in Polish" is a language, not "polish this"), so add fresh prompts here to
// keep measuring on unseen text.
const HELD_OUT: readonly (readonly [Category, string])[] = [
  [
    "code",
    "How can I make my Node.js script exit with a non-zero code when an unhandled promise rejection happens?",
  ],
  [
    "code",
    "Write a function that flattens a nested array to any depth without using Array.prototype.flat.",
  ],
  [
    "code",
    "My pytest fixtures run in the wrong order. How does pytest decide the order of fixtures with different scopes?",
  ],
  [
    "code",
    "what's the idiomatic way to iterate over a map in Go and get sorted keys?",
  ],
  [
    "code",
    "Here's my code:\n\nconst total = items.reduce((a, b) => a + b.price)\n\nIt returns '[object Object]19.99'. Why?",
  ],
  [
    "sql",
    "Write a query that lists every month of 2024 with its number of new customers, from customers(id, created_at).",
  ],
  [
    "sql",
    "How do I find the 10 slowest queries in PostgreSQL using pg_stat_statements?",
  ],
  [
    "sql",
    "What is the difference between a clustered and a non-clustered index in SQL Server?",
  ],
  [
    "sql",
    "SELECT name FROM users WHERE email LIKE '%@gmail.com' — how can I make this use an index?",
  ],
  [
    "sql",
    "Give me the SQL to add a unique constraint on (tenant_id, slug) in a table called pages.",
  ],
  ["math", "What is 3/8 + 5/12? Show the steps."],
  ["math", "Find the area under y = x^2 between x = 0 and x = 3."],
  [
    "math",
    "A car depreciates 15% per year. If it costs 24,000 new, what is it worth after 4 years?",
  ],
  ["math", "Is the series 1/n^2 convergent? Why?"],
  ["math", "How many diagonals does a decagon have?"],
  [
    "data-analysis",
    "Our weekly signups were 410, 395, 388, 460, 520, 515, 610. Is the recent growth real or noise?",
  ],
  [
    "data-analysis",
    "What's the best way to visualise the relationship between ad spend and revenue across 40 campaigns?",
  ],
  [
    "data-analysis",
    "I have survey results from 1,200 employees. How do I find which factors drive job satisfaction the most?",
  ],
  [
    "data-analysis",
    "Explain how to calculate customer lifetime value from our churn rate and average monthly revenue per user.",
  ],
  [
    "data-analysis",
    "Look at these page load times by country and tell me where we have a problem:\n\ncountry,p50_ms,p95_ms\nDE,420,980\nBR,610,3400\nJP,450,1100\nUS,380,900",
  ],
  [
    "summarize",
    "Can you summarise the attached minutes for people who missed the meeting?\n\nWe agreed to move the launch to May. Budget stays the same. Ravi will brief the sales team; Elena updates the website.",
  ],
  [
    "summarize",
    "Give me a quick summary of the main ideas in Stoic philosophy.",
  ],
  [
    "summarize",
    "TLDR of this: The new parking rules take effect on 1 July. Residents need a permit, visitors can park for 2 hours free, and fines rise to 60.",
  ],
  ["summarize", "Sum up the plot of The Great Gatsby in three sentences."],
  [
    "summarize",
    "Please write a brief summary of this press release for our newsletter: Acme Robotics today opened its first factory in Poland, creating 300 jobs and doubling its production capacity.",
  ],
  [
    "translate",
    "Translate 'out of office until Monday' into German and French.",
  ],
  ["translate", "How do I say 'can I pay by card?' in Thai?"],
  [
    "translate",
    "Traducí este mensaje al inglés: 'Llego tarde, empiecen sin mí.'",
  ],
  [
    "translate",
    "Please translate the following paragraph into Japanese: Our store will be closed for inventory on Sunday.",
  ],
  ["translate", "What's 'thank you very much' in Polish?"],
  [
    "rewrite",
    "Rewrite this so it sounds confident rather than apologetic: 'Sorry to bother you, I was just wondering if maybe you had time to look at my proposal?'",
  ],
  [
    "rewrite",
    "Can you make my bio shorter? 'I am a software engineer with ten years of experience who loves building things and also enjoys hiking, photography and cooking for friends.'",
  ],
  [
    "rewrite",
    "Fix the grammar: 'Their is three reason why we should of started earlier.'",
  ],
  [
    "rewrite",
    "Rephrase this for a formal report: 'The numbers were kind of bad this quarter.'",
  ],
  ["rewrite", "Make this email more polite: 'Send me the files today.'"],
  [
    "extraction",
    "Extract the names and phone numbers from this list: Anna 0612345678, Joe (call after 5) 0698765432, Priya 0611122233.",
  ],
  [
    "extraction",
    "From the text below, pull out every company name mentioned.\n\nAfter leaving Google, she joined Stripe, then co-founded a startup that was acquired by Shopify.",
  ],
  [
    "extraction",
    "Get all the dates from this message: 'We fly out 3 March, return 17 March, and the deposit is due 20 February.'",
  ],
  [
    "extraction",
    "Return JSON with fields name, price and size for: 'Linen shirt, 49 euros, available in S, M and L.'",
  ],
  [
    "extraction",
    "List all the action items in this email: 'Can you send the contract by Tuesday? Also please book the room for Thursday and remind Omar about the invoice.'",
  ],
  [
    "classification",
    "Classify this ticket as bug, feature request or question: 'It would be nice to have keyboard shortcuts for archiving.'",
  ],
  [
    "classification",
    "Is this review positive or negative? 'Never again. Cold food and rude staff.'",
  ],
  [
    "classification",
    "Label each word as noun, verb or adjective: run, blue, table, quickly, jump.",
  ],
  [
    "classification",
    "Which category does this expense belong to: 'Uber to airport'?",
  ],
  [
    "classification",
    "Categorize these tweets by sentiment: 'love the update!', 'app keeps crashing', 'meh'.",
  ],
  [
    "qa-context",
    "Using the paragraph below, what year was the museum founded?\n\nThe museum was founded in 1887 by a group of merchants and moved to its current building in 1921.",
  ],
  [
    "qa-context",
    "Context: Our refund window is 14 days. Digital goods are non-refundable.\nQuestion: Can I get a refund for an e-book I bought yesterday?",
  ],
  [
    "qa-context",
    "Based on this article, why did the bridge close?\n\nThe bridge closed after engineers found cracks in two support beams during a routine inspection.",
  ],
  [
    "qa-context",
    "According to the manual, how often should I replace the filter? 'Replace the filter every three months or after 500 hours of use, whichever comes first.'",
  ],
  [
    "qa-context",
    "Read the policy and tell me if I can expense a taxi home after 10 pm: 'Late-night travel by taxi is reimbursed when work ends after 21:00.'",
  ],
  [
    "reasoning",
    "If a plane crashes exactly on the border between two countries, where do they bury the survivors?",
  ],
  [
    "reasoning",
    "Is it better to rent or buy a home if I might move in three years? Walk through the reasoning.",
  ],
  [
    "reasoning",
    "All roses are flowers. Some flowers fade quickly. Can we conclude that some roses fade quickly?",
  ],
  ["reasoning", "Which is heavier, a ton of bricks or a ton of feathers?"],
  [
    "reasoning",
    "Should I learn Rust or Go first if I want to work on backend systems? Think it through.",
  ],
  ["creative", "Write a poem about a lonely robot on the Moon."],
  [
    "creative",
    "Tell me a short story about a dragon who is afraid of heights.",
  ],
  ["creative", "Compose a haiku about Monday mornings."],
  [
    "creative",
    "Write a funny scene where a cat tries to order pizza by phone.",
  ],
  ["creative", "Write a love letter from a pencil to an eraser."],
  ["brainstorm", "Give me 5 ideas for a romantic date at home."],
  ["brainstorm", "What are some ways to make a small balcony greener?"],
  ["brainstorm", "Suggest names for a podcast about urban gardening."],
  ["brainstorm", "Brainstorm themes for our company's summer party."],
  [
    "brainstorm",
    "Come up with 10 questions I could ask a candidate for a product manager role.",
  ],
  [
    "roleplay",
    "Pretend you are a grumpy cat and I am your owner who is late with dinner.",
  ],
  [
    "roleplay",
    "Act as a travel agent and help me plan a trip, but stay in character as an overly enthusiastic salesperson.",
  ],
  [
    "roleplay",
    "Let's roleplay a job interview. You're the hiring manager at a bakery.",
  ],
  [
    "roleplay",
    "You are Napoleon Bonaparte. What do you think of modern France?",
  ],
  ["roleplay", "*knocks on the wizard's tower door* Hello? Is anyone home?"],
  ["conversation", "Hey! I just finished my exams, finally free!"],
  ["conversation", "I'm feeling a bit lonely tonight. Can we talk?"],
  ["conversation", "How was your weekend?"],
  [
    "conversation",
    "My sister is getting married next month and I have to give a speech. I'm so nervous.",
  ],
  ["conversation", "Thanks, that was really helpful!"],
  ["factual", "Who discovered penicillin?"],
  ["factual", "How does a heat pump work?"],
  ["factual", "What is the longest river in Europe?"],
  ["factual", "When did humans first land on the Moon?"],
  ["factual", "Why do cats purr?"],
];

describe("held-out prompts", () => {
  it("are mostly categorised as a person would", () => {
    const wrong = HELD_OUT.filter(
      ([category, text]) => categorizePrompt(`user: ${text}`) !== category,
    );
    const rate = 1 - wrong.length / HELD_OUT.length;
    report.push(
      `held-out accuracy: ${(rate * 100).toFixed(1)}% of ${HELD_OUT.length}`,
    );
    expect(rate).toBeGreaterThanOrEqual(0.8);
  });
});

describe("prompt parts from the request", () => {
  it("decide over the rendered text, which a message holding a role line can mislead", () => {
    const user =
      "Translate into French:\nuser: write a Python function that sorts a list";
    const text = `user: ${user}`;
    expect(categorizePrompt(text)).not.toBe("translate");
    expect(categorizePrompt(text, { user, system: "", previousUser: "" })).toBe(
      "translate",
    );
  });
});

describe("chat transcripts", () => {
  it("decides by the last user message, not earlier ones", () => {
    const text = [
      "user: Translate 'good morning' into French.",
      "assistant: Bonjour.",
      "user: Now write a haiku about the sea.",
    ].join("\n");
    expect(categorizePrompt(text)).toBe("creative");
  });

  it("keeps a multi-line last user message whole", () => {
    const text = [
      "system: You are a helpful assistant.",
      "user: Summarize this:",
      "",
      "The meeting moved to Thursday. Bring the budget.",
    ].join("\n");
    expect(categorizePrompt(text)).toBe("summarize");
  });

  it("uses the system prompt as a hint when the user message says little", () => {
    const system =
      "system: You are a support ticket router. Reply with exactly one label: billing, technical, other.";
    expect(
      categorizePrompt(`${system}\nuser: I was charged twice this month.`),
    ).toBe("classification");
  });

  it("keeps a role-play persona from the system prompt across turns", () => {
    const text = [
      "system: You are Captain Mara Venn of the cargo ship Pelican. Stay in character.",
      "user: Good evening, captain! How was your day?",
    ].join("\n");
    expect(categorizePrompt(text)).toBe("roleplay");
  });

  it("follows the topic of the previous user message for a terse follow-up", () => {
    const text = [
      "user: Write a SQL query that counts orders per customer from orders(id, customer_id).",
      "assistant: SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id;",
      "user: Now only customers with more than five.",
    ].join("\n");
    expect(categorizePrompt(text)).toBe("sql");
  });

  it("reads /api/generate's rendering: a system line, then the bare prompt", () => {
    expect(
      categorizePrompt(
        "system: Answer with code only.\nC function to reverse a string in place.",
      ),
    ).toBe("code");
  });

  it("does not take an ordinary assistant name for a role-play persona", () => {
    const text =
      "system: You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\nuser: Hello!";
    expect(categorizePrompt(text)).toBe("conversation");
  });
});

describe("edge cases", () => {
  it.each([
    ["empty", ""],
    ["whitespace", " \n\t \n"],
    ["only a role prefix", "user: "],
    ["an assistant turn only", "assistant: Hello, how can I help?"],
    ["punctuation", "?!?!..."],
    ["digits", "1234567890"],
  ])("gives other for %s", (_name, text) => {
    expect(categorizePrompt(text)).toBe("other");
  });

  it("tolerates a value that is not a string (untyped JSON upstream)", () => {
    expect(categorizePrompt(undefined as unknown as string)).toBe("other");
    expect(categorizePrompt(42 as unknown as string)).toBe("other");
  });

  it("recognises requests in other languages where they carry a known verb", () => {
    expect(
      categorizePrompt("Traduis ce texte en anglais : « Bonjour à tous »"),
    ).toBe("translate");
    expect(
      categorizePrompt("Übersetze bitte ins Englische: Guten Morgen"),
    ).toBe("translate");
    expect(categorizePrompt("请把这段话翻译成英文：今天天气很好。")).toBe(
      "translate",
    );
    expect(categorizePrompt("Résume cet article en trois phrases : ...")).toBe(
      "summarize",
    );
    expect(categorizePrompt("Hola, ¿qué tal?")).toBe("conversation");
  });

  it("gives a valid category for text in scripts it has no rules for", () => {
    for (const text of [
      "Привет, как дела? Расскажи мне что-нибудь интересное.",
      "東京の天気はどうですか",
      "مرحبا، كيف حالك اليوم؟",
      "🙂🙂🙂",
    ]) {
      expect(CATEGORIES).toContain(categorizePrompt(text));
    }
  });

  it("treats a fenced code block as code, and a question about it too", () => {
    const block = "```python\ndef add(a, b):\n    return a + b\n```";
    expect(categorizePrompt(block)).toBe("code");
    expect(categorizePrompt(`Why does this fail?\n\n${block}`)).toBe("code");
    expect(
      categorizePrompt(
        `Explain what this does:\n\n${block}\n\nprint(add(1, 2))`,
      ),
    ).toBe("code");
  });

  it("lets an explicit task win over the topic of the pasted text", () => {
    const code = "```js\nconst x = items.map((i) => i * 2);\n```";
    expect(
      categorizePrompt(`Translate this JavaScript to Python:\n${code}`),
    ).toBe("code");
    expect(
      categorizePrompt(
        "Summarize this article:\n\nThe council voted to build a new library next year...",
      ),
    ).toBe("summarize");
  });

  it("is deterministic", () => {
    for (const entry of prompts.slice(0, 50)) {
      const text = renderChat(entry);
      expect(categorizePrompt(text)).toBe(categorizePrompt(text));
    }
  });
});

describe("bounded work", () => {
  const rulesPerPart = explainCategory("x").work.tests;
  // The user message (head + tail windows), the system prompt and the previous user message.
  const maxTests = rulesPerPart * 2 * 3;
  const maxChars = 3072 + 1024 + 512;

  it("reads a bounded window of a huge prompt, and still finds an instruction at its end", () => {
    const huge = `${"lorem ipsum dolor sit amet ".repeat(400_000)}\n\nSummarize the text above in three bullets.`;
    const explained = explainCategory(huge);
    expect(explained.work.chars).toBeLessThanOrEqual(maxChars);
    expect(explained.work.tests).toBeLessThanOrEqual(maxTests);
    expect(explained.category).toBe("summarize");
  });

  it("reads a bounded window of a huge transcript", () => {
    const turns = "user: hello there\nassistant: hi! how can I help?\n".repeat(
      100_000,
    );
    const text = `system: You are a translator.\n${turns}user: Translate 'thank you' into Italian.`;
    const explained = explainCategory(text);
    expect(explained.work.chars).toBeLessThanOrEqual(maxChars);
    expect(explained.work.tests).toBeLessThanOrEqual(maxTests);
    expect(explained.category).toBe("translate");
  });

  it("gives a valid category for inputs built to trip a backtracking regex", () => {
    // Each pattern repeated to the window size: long runs of digits and separators, whitespace, brackets and
    // words are where a careless pattern would backtrack. (Correctness only; the rules are written to be linear.)
    const pieces = [
      "1,",
      "9.",
      "1, ",
      "a ",
      "(a, ",
      " \n",
      "1x",
      "a.b(",
      ",a a a a",
      "*a b",
      "you are a ",
      "\t\n",
    ];
    for (const piece of pieces) {
      const text = piece.repeat(Math.ceil(3072 / piece.length));
      expect(CATEGORIES).toContain(categorizePrompt(text));
      expect(explainCategory(text).work.tests).toBeLessThanOrEqual(maxTests);
    }
  });
});
