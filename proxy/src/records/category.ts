// Prompt text → one of a fixed set of categories, from cheap keyword rules. Pure: no I/O, no logger, no state.
// Runs on every request after the response, so it reads a bounded window of the text whatever its size, and its
// output is bounded too (always one of CATEGORIES), which makes it safe as a metrics label.
import type { PromptParts } from "../upstream/types.ts";

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
type Scope = "lead" | "body";

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

const PROGRAMMING_LANGUAGES =
  "python|javascript|typescript|java|kotlin|golang|rust|c\\+\\+|c#|ruby|php|swift|scala|haskell|elixir|perl|lua|bash|powershell|node(?:\\.?js)?|react|vue|angular|django|flask|fastapi|express|spring|tokio|axum";
const HUMAN_LANGUAGES =
  "english|french|spanish|german|italian|portuguese|dutch|japanese|chinese|mandarin|cantonese|korean|arabic|russian|polish|czech|slovak|swedish|danish|norwegian|finnish|greek|turkish|hindi|urdu|bengali|vietnamese|thai|indonesian|malay|latin|hebrew|ukrainian|romanian|hungarian|catalan|basque|persian|farsi|swahili|tagalog";

// [category, pattern, weight, scope, system factor (default SYSTEM_FACTOR)]. Each rule counts at most once per
// part. Patterns are compiled once, carry no `g` flag (so `test()` keeps no state between calls), and are written
// to stay linear: no nested or adjacent quantifiers over the same characters, `[ \t]` rather than `\s` next to
// `^`/`$` in multiline patterns. Typical prompts take ~50 µs; inputs built to make the rules backtrack (the ones
// in test/unit/records/category.test.ts) took under 2 ms at the full window when this was written.
const RULE_TABLE: readonly (readonly [
  Category,
  RegExp,
  number,
  Scope,
  number?,
])[] = [
  // code
  [
    "code",
    /\b(?:write|implement|create|build|fix|debug|refactor|optimi[sz]e|review|make)\b[^.?!\n]{0,60}\b(?:function|method|class|script|program|regex|regular expression|unit tests?|tests? for|api|endpoint|middleware|decorator|dockerfile|makefile|workflow|hook|component|module|cli|struct|interface|type|lambda)\b/i,
    3,
    "lead",
  ],
  [
    "code",
    new RegExp(
      `\\b(?:translate|convert|port|rewrite)\\b[^.\\n]{0,40}\\b(?:code|${PROGRAMMING_LANGUAGES})\\b`,
      "i",
    ),
    3,
    "lead",
  ],
  ["code", /```/, 2, "body"],
  ["code", new RegExp(`\\b(?:${PROGRAMMING_LANGUAGES})\\b`, "i"), 3, "body"],
  // Languages whose names are ordinary words: only in phrases that make them languages.
  [
    "code",
    /\b(?:in|to|with|using) (?:Go|C|R)\b(?![-'’])|\b(?:Go|C|R) (?:code|function|handler|program|struct)\b/,
    2.5,
    "body",
  ],
  [
    "code",
    /^[ \t]*(?:def |class \w|import |from \S+ import |function |const |let |var |public |private |func |fn |#include|package |using |for \(|if \(|while \(|return )/m,
    2,
    "body",
  ],
  [
    "code",
    /=>|\(\)\s*\{|console\.log|System\.out|printf\(|print\(|(?<![\w.])\w+\.\w+\(|[;{}][ \t]*$/m,
    1.5,
    "body",
  ],
  [
    "code",
    /\b(?:TypeError|SyntaxError|ReferenceError|NullPointerException|segmentation fault|segfault|stack trace|traceback|exception|compiler? error|undefined is not|cannot read propert|null pointer)/i,
    2.5,
    "body",
  ],
  [
    "code",
    /\b(?:git|github|docker|dockerfile|kubernetes|npm|yarn|pip|eslint|prettier|pytest|jest|vitest|webpack|ci pipeline|github actions|regex|regular expression|algorithm|big-o|o\(n(?:\^?2| log n)?\)|data structure|threads?|thread-safe|mutex|race condition|closure|recursion|compiler|runtime|refactor|debug|bug|linter|variable|loop|array|linked list|hash ?map|dependency injection|multiprocessing|async|stdout|repository)\b/i,
    1.5,
    "body",
  ],
  // sql
  [
    "sql",
    /\b(?:sql|t-sql|postgres(?:ql)?|mysql|mariadb|sqlite|bigquery|snowflake|redshift|oracle db|sql server)\b/i,
    3,
    "body",
  ],
  [
    "sql",
    /\bSELECT\b[\s\S]{1,300}?\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|\bCREATE (?:TABLE|INDEX|VIEW)\b/,
    3,
    "body",
  ],
  [
    "sql",
    /\b(?:order by|having|cte|primary key|foreign key|schema|indexes|an index|query|queries)\b/i,
    1.5,
    "body",
  ],
  [
    "sql",
    /\b(?:(?:inner|left|right|full outer|cross) joins?|group by|window functions?|upsert|create table|transaction isolation|read committed|serializable|stored procedures?)\b/i,
    3,
    "body",
  ],
  ["sql", /\btables?\b[^.\n]{0,40}\b\w+\([\w ]+(?:,\s*[\w ]+)+\)/i, 2, "body"],
  [
    "sql",
    /\b(?:write|give me|need) (?:a |an |the )?(?:sql )?quer(?:y|ies)\b/i,
    3,
    "lead",
  ],
  // math
  [
    "math",
    /\b(?:solve|calculate|compute|simplify|prove|derive|differentiate|integrate|evaluate|factor(?:i[sz]e)?|convert \d)\b/i,
    2,
    "lead",
  ],
  [
    "math",
    /\b(?:equations?|derivative|integral|limit as|matri(?:x|ces)|determinant|eigen\w*|probability|prime numbers?|is \d+ a prime|factorial|fractions?|decimal|lowest terms|percent|area|perimeter|volume|radius|diameter|angles?|triangle|theorem|induction|irrational|logarithm|log base|taylor series|expected value|standard deviation|combinations?|permutations?|how many (?:different )?ways|trailing zeros|reciprocal|mentally|in your head|diagonals?|(?:penta|hexa|hepta|octa|nona|deca|dodeca|poly)gons?|vertices|circumference|hypotenuse|pythagor\w*|compound(?:ed|ing)?|interest rate|discount(?:ed|s)?|sum of|integers?|divisible|square root|squared|cubed|digits)\b/i,
    1.5,
    "body",
  ],
  [
    "math",
    /\d\s+[+\-*/×÷^=]\s+\(?\d|\d\s*[×÷^]\s*\d|\b[a-z]\s*[+\-=]\s*\d|\b\d*[a-z]\^\d|√|π|∫|\b\d+!|\b(?:sin|cos|tan|ln|log)\s*\(|\bd[xy]\/d[xy]\b/i,
    2,
    "body",
  ],
  // Word problems: a quantity asked about in a text that has numbers.
  [
    "math",
    /^(?=[\s\S]*\d)[\s\S]*\b(?:how (?:much|many|long|far)|what is the (?:total|probability|area|volume)|at what time)\b/i,
    1.5,
    "body",
  ],
  ["math", /\b\d+(?:[.,]\d+)?\s*(?:%|percent)\s+of\s+\d/i, 2, "body"],
  // data analysis
  [
    "data-analysis",
    /\b(?:analy[sz]e|analysis|statistically significant|significance|a\/b test|p-values?|correlation|regression|forecast\w*|cohorts?|retention|churn|funnel|drop-off|seasonality|outliers?|anomal(?:y|ies)|dataframe|pandas|numpy|scipy|histogram|chart|plot|visuali[sz]\w*|nps|conversion rate|chi-square|confidence interval|sample size|missing values|insights?|time series|smoothing|arima|prophet|variance|percentiles?|p-value)\b/i,
    2,
    "body",
  ],
  [
    "data-analysis",
    /\b(?:trends?|data ?set|data|metrics?|kpis?|survey|respondents|median|mean|average|distribution|dashboard|spreadsheet|csv|rolling|p95|p50|per (?:day|week|month)|month-over-month|year over year|growth rate)\b/i,
    1,
    "body",
  ],
  // A CSV header line (cells without spaces keep the pattern linear).
  ["data-analysis", /^[ \t]*\w+(?:,\w+){2,}[ \t]*$/m, 1.5, "body"],
  // A series of numbers pasted for analysis.
  // (A separator is a comma or semicolon followed by a space, so it never competes with a thousands comma.)
  [
    "data-analysis",
    /(?<![\d.,])\d+(?:[.,]\d+)*\s*[;,]\s+\d+(?:[.,]\d+)*\s*[;,]\s+\d+(?:[.,]\d+)*\s*[;,]\s+\d/,
    1.5,
    "body",
  ],
  [
    "data-analysis",
    /\b(?:revenue|sales|sign-?ups|conversions?|visitors|customers|active users|spend|orders|traffic|tickets|open rate|click-through)\b/i,
    1,
    "body",
  ],
  // summarize
  [
    "summarize",
    /\b(?:summari[sz]e|summari[sz]ing|(?:a|an|short|brief|quick|executive|one-(?:line|sentence|paragraph)) summary|summary of|tl;?dr|recap|condense|boil (?:\w+ )?down|gist|key (?:points|takeaways)|main (?:points|takeaways)|in a nutshell|sum (?:it |this )?up|executive summary|synopsis|résum\w*|resum(?:e|en|ir|a)\b|zusammenfass\w*|riassum\w*|要約|总结|摘要|概括)/i,
    4.5,
    "lead",
  ],
  [
    "summarize",
    /\b(?:in (?:one|two|three|a few|\d+) (?:sentences?|bullets?|bullet points|words|paragraphs?)|in under \d+ words|short(?:er)? version)\b/i,
    1.5,
    "lead",
  ],
  // translate
  [
    "translate",
    /\b(?:translat(?:e|ed|ion|ing|or)|how (?:do|would|can) (?:you|i|we) say|localis|locali[sz]ation)\b|\btradu(?:c|z|is|ire)|übersetz|tradurre|翻[译訳]|перевед|перевод/i,
    4.5,
    "lead",
  ],
  [
    "translate",
    new RegExp(`\\b(?:into|to|in|from) (?:${HUMAN_LANGUAGES})\\b`, "i"),
    2,
    "body",
  ],
  [
    "translate",
    new RegExp(
      `\\b(?:${HUMAN_LANGUAGES}) (?:translation|equivalent|word for)\\b`,
      "i",
    ),
    2.5,
    "body",
  ],
  [
    "translate",
    new RegExp(
      `["“'«][^"”'»\\n]{1,80}["”'»]\\s+(?:in|into) (?:${HUMAN_LANGUAGES})\\b`,
      "i",
    ),
    2.5,
    "body",
  ],
  [
    "translate",
    /\b(?:al|en|auf|ins|in het|em|para o|in) (?:inglés|español|francés|alemán|italiano|anglais|français|espagnol|allemand|englisch|deutsch|französisch|spanisch|engels|inglês|inglese|francese|tedesco)/i,
    2.5,
    "body",
  ],
  [
    "translate",
    /\bwhat (?:does|do) ["“'«][^"”'»\n]{2,80}["”'»] mean\b/i,
    2.5,
    "lead",
  ],
  // rewrite
  [
    "rewrite",
    /\b(?:re-?write|rephrase|reword|paraphrase|proof-?read|copy-?edit|polish (?:this|my|the|it|up)|edit (?:this|my|the)|shorten|tone down)\b/i,
    4.5,
    "lead",
  ],
  [
    "rewrite",
    /\b(?:make|turn|convert|change|improve|simplify|fix)\b (?:this|these|it|my|the following)\b[^.\n]{0,50}\b(?:more|less|sound|friendl\w*|short\w*|clear\w*|concise|professional|formal|informal|casual|polite|readable|neutral|better|flow|simpler|into (?:a |an )?(?:\w+ )?(?:paragraph|checklist|list|bullet|email|speech|sentence)|spelling|grammar|punctuation|typos|voice)\b/i,
    3,
    "lead",
  ],
  [
    "rewrite",
    /\b(?:fix|correct|check) (?:the )?(?:grammar|spelling|punctuation|typos)|\b(?:active|passive) voice\b|\bgender-neutral\b|\bplain (?:english|language)\b|\b(?:british|american) (?:english|spelling)\b|\bsound (?:more )?natural\b/i,
    2.5,
    "body",
  ],
  [
    "rewrite",
    /\b(?:simplify|improve|fix|polish|tighten|clean up|shorten) (?:this|these|my|the following) (?:[\w-]+ ){0,3}(?:sentences?|paragraphs?|text|email|message|letter|post|draft|copy|bio|intro|headline|description|toast|speech)\b|\bhere(?:'s| is) (?:the|my) draft\b/i,
    3.5,
    "lead",
  ],
  // extraction
  ["extraction", /\b(?:extract|pull out|parse out|scrape)\b/i, 4.5, "lead"],
  [
    "extraction",
    /\b(?:find|list|get|identify|collect)\b[^.\n]{0,40}\b(?:in|from) (?:this|these|the following|the text|the passage|the email)\b/i,
    3,
    "lead",
  ],
  [
    "extraction",
    /\b(?:named entities|entities|action items|key terms|key facts|deadlines|who, what, when|normalis|normaliz)/i,
    2,
    "body",
  ],
  [
    "extraction",
    /\b(?:keys?|fields?|columns?|schema)\b[^.\n]{0,40}\b(?:json|csv)\b|\b(?:json|csv)\b[^.\n]{0,40}\b(?:keys?|fields?|columns?|header)\b/i,
    2,
    "body",
  ],
  [
    "extraction",
    /\b(?:as|in|return|output|reply with|respond with)\s+(?:valid )?(?:json|csv|a table|a json array)\b|\bjson\b/i,
    1,
    "body",
  ],
  // classification
  [
    "classification",
    /\b(?:classif(?:y|ies|ication)|categori[sz]e|label (?:the|this|these|each)|tag (?:this|these|each)|assign (?:a |the )?(?:genre|category|label|tag)|sort (?:these|them|the following) into|which (?:category|department|genre|label|team|bucket)|into (?:a )?categor(?:y|ies)|(?:one|a single) label)\b/i,
    4.5,
    "lead",
  ],
  [
    "classification",
    /\b(?:sentiment|spam|phishing|is this .{0,40}(?:spam|fake|real|genuine|a complaint)|positive,? (?:or )?negative|fact or (?:an )?opinion|intent|severity|urgency|toxicity|emotion|reading level|formal(?:ly)? or informal(?:ly)?|what language is (?:this|the following|it))\b/i,
    2.5,
    "body",
  ],
  [
    "classification",
    /\b(?:answer|reply|respond) (?:with )?(?:only )?(?:yes or no|one word|the label|exactly one)\b|\blabels?:/i,
    2,
    "body",
  ],
  [
    "classification",
    /\((?:[\w-]+(?: [\w-]+)?,\s*){2,}(?:or\s+)?[\w-]+(?: [\w-]+)?\)|:\s*(?:[\w-]+,\s*){2,}(?:or\s+)?[\w-]+\s*(?:[.?\n]|$)/i,
    1,
    "body",
  ],
  // question answering over a given text
  [
    "qa-context",
    /\b(?:based (?:only )?on|according to|using (?:only )?(?:the|this)|from the|given (?:the|this)|read (?:the|this)|in the)\b[^.\n]{0,50}\b(?:text|passage|context|document(?:ation)?|excerpt|article|polic(?:y|ies)|paragraph|manual|faq|table|notes|minutes|thread|handbook|timetable|forecast|syllabus|release notes|runbook|contract|specs?|transcript|report)\b/i,
    3.5,
    "lead",
  ],
  [
    "qa-context",
    /^[ \t]*(?:context|passage|text|document|excerpt|handbook excerpt)[ \t]*:/im,
    2.5,
    "body",
  ],
  ["qa-context", /^[ \t]*question[ \t]*:|\bquestion at the end\b/im, 2, "body"],
  [
    "qa-context",
    /\banswer (?:only )?(?:from|using|based on)\b|\bonly (?:use|from) the (?:text|context|passage)|\bif the answer is not in\b|\banswer\b[^.\n]{0,40}\busing\b|\bhere(?: is|'s)\b[^.\n]{0,30}\b(?:excerpt|passage|text|faq|document)/i,
    3,
    "body",
  ],
  // reasoning
  [
    "reasoning",
    /\b(?:think step by step|step by step|explain your reasoning|reason(?:ing)?|logic(?:al(?:ly)?)?|puzzle|riddle|deduce|deduction|valid argument|fallacy|paradox|brain ?teaser|think (?:it )?through)\b/i,
    2.5,
    "body",
  ],
  [
    "reasoning",
    /(?:^|[.?!]\s+)should i\b|\b(?:is it (?:a good idea|worth|better|wise)|which (?:is|option|one|apartment|vendor|job) (?:is )?(?:better|cheaper|best)|help me (?:think|decide|weigh)|reason (?:it )?out|walk (?:me )?through|is that consistent|what's wrong with this)\b/i,
    2.5,
    "body",
  ],
  [
    "reasoning",
    /\b(?:if (?:all|some|no) \w+ (?:are|is)|who (?:owns|is|has) (?:which|the)|how does he do it|how do you find|which weighs more|what day of the week|next number in the sequence|can we conclude|are all \w+ definitely|all labels are wrong|is the following argument)\b/i,
    3,
    "body",
  ],
  ["reasoning", /\btrade-?offs?\b/i, 1.5, "body"],
  // A puzzle's set-up: a hypothetical or a cast of characters, then a question.
  [
    "reasoning",
    /^\s*(?:if|suppose|imagine|assume|there are|you have|you are in|a man|a woman|a farmer|\w+ (?:people|friends|boxes|coins|players))\b/i,
    1.5,
    "lead",
  ],
  // creative writing
  [
    "creative",
    /\b(?:write|compose|create|craft|invent|tell|describe)\b[^.\n]{0,50}\b(?:poems?|poetry|haiku|limerick|sonnet|stor(?:y|ies)|tale|fable|myth|novel|scene|screenplay|lyrics|song|rap|verse|dialogue|monologue|speech|toast|eulogy|letter from|fairy tale|flash fiction|villain|hero|character|holiday|chorus|opening (?:paragraph|line|page)|first page|prose|joke|ballad|ode)\b/i,
    3.5,
    "lead",
  ],
  [
    "creative",
    /\b(?:continue the (?:story|poem|tale|scene)|once upon a time|through the eyes of|in the style of|from the (?:point of view|perspective) of|rhym(?:e|ing)|stanza|plot twist|twist)\b/i,
    2.5,
    "body",
  ],
  [
    "creative",
    /\b(?:funny|humorous|whimsical|dramatic|vivid|atmospheric|heartfelt|fantasy|science fiction|sci-fi)\b/i,
    1,
    "body",
  ],
  // brainstorming
  ["brainstorm", /\bbrainstorm\w*\b/i, 4.5, "lead"],
  [
    "brainstorm",
    /\b(?:(?:some|any|more|\d+|name|gift|party|menu|project|topic) ideas|ideas (?:for|to|on|about)|come up with|what are some|give me (?:\d+|some|a few|a list)|list (?:\d+|some|possible|alternative)|(?:\d+|some) (?:names?|titles?|slogans?|topics?|questions?|options?|ways)|alternative uses|suggest\w*|ways to|things to do|list of options|possible (?:names|titles|causes))\b/i,
    2.5,
    "lead",
  ],
  // role play
  // Role-play proper: a system prompt saying so holds for every turn, even a user message that is small talk.
  [
    "roleplay",
    /\b(?:stay (?:in )?character|in character|role-?play\w*|role play|let's (?:do a )?role|game master|dungeon master|text adventure)\b/i,
    4,
    "body",
    1.5,
  ],
  // Also said of task personas in system prompts ("act as a senior reviewer"), so those only count as usual.
  [
    "roleplay",
    /\b(?:act as|pretend (?:to be|you(?:'re| are))|you play|be my (?:\w+ )?(?:opponent|partner|interviewer|coach|tutor)|talk like a|answer as (?:he|she|they) would|in (?:his|her|their) voice)\b/i,
    4,
    "body",
  ],
  ["roleplay", /\*[a-z][^*\n]{3,80}\*/, 2.5, "body"],
  [
    "roleplay",
    /\beverything you say\b|\byou (?:always )?(?:speak|talk) (?:like|in|as)\b|\b(?:respond|reply|answer|speak) (?:with|in) the [^.\n]{0,30}\b(?:voice|tone|manner) of\b/i,
    3,
    "body",
  ],
  [
    "roleplay",
    // A named persona, but not an assistant's own name ("You are Qwen, created by …").
    /\b[Yy]ou are (?:(?:[Cc]aptain|[Dd]etective|[Dd]r\.?|[Pp]rofessor|[Ss]ir|[Ll]ady|[Ll]ord|[Kk]ing|[Qq]ueen) )?[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}(?: in \d{3,4}|[.,]| of the\b)(?![^.\n]{0,40}\b(?:assistant|AI|model|created by|developed by|trained by|made by)\b)|\b[Yy]ou are (?:a|an|the) [^.\n]{0,60}\bnamed [A-Z]/,
    3,
    "body",
  ],
  // small talk and personal conversation
  [
    "conversation",
    /^\s*(?:hi|hello|hey|yo|good (?:morning|evening|night|afternoon)|nice to meet you|thanks|thank you|how are you|how's your|what's up|guess what|hola|bonjour|salut|hallo|ciao|olá|привет|你好|こんにちは)\b/i,
    3,
    "lead",
  ],
  [
    "conversation",
    /\b(?:i(?:'m| am)|i feel|i've been|i have been|i was|i keep)\b[^.\n]{0,40}\b(?:feeling|sad|happy|bored|tired|nervous|stressed|lonely|excited|anxious|down|unmotivated|miss|scared|worried|procrastinating|upset|angry)\b/i,
    2.5,
    "body",
  ],
  [
    "conversation",
    /\b(?:talk to me|chat|vent|can we just|do you (?:ever|like|think)|what do you (?:like|think)|are you (?:a person|a bot|human|real)|what would you do|make me smile|talk tomorrow|what's your favou?rite|how (?:was|is|are) your|your (?:weekend|day|week|holidays?|vacation))\b/i,
    2.5,
    "body",
  ],
  [
    "conversation",
    /\bmy (?:best friend|friends?|brother|sister|mum|mom|mother|dad|father|daughter|son|wife|husband|partner|roommate|boyfriend|girlfriend|neighbou?r|grandm\w+|family)\b|\bi (?:just|finally)\b|\b(?:haha|lol)\b/i,
    1.5,
    "body",
  ],
  [
    "conversation",
    /\b(?:any (?:tips|advice)|what (?:should|can) i do|is (?:that|it) (?:normal|weird|too late)|too late to|how do (?:adults|people) (?:make|get|deal|cope)|what do i say|what do you recommend)\b/i,
    2,
    "body",
  ],
  [
    "conversation",
    /\b(?:nervous|excited|sad|lonely|bored|stressed|anxious|scared|worried|proud|grateful|homesick|heartbroken|exhausted)\b/i,
    1.5,
    "body",
  ],
  // Speaking about oneself, with nothing more specific, is conversation.
  ["conversation", /\b(?:i|i'm|i've|i'd|my|me)\b/i, 1, "body"],
  // factual questions
  [
    "factual",
    /^\s*what (?:is|are) (?:a |an |the )?[\w -]{1,30}\?\s*$/i,
    2,
    "lead",
  ],
  [
    "factual",
    /^\s*(?:what|which|who)\b[^.?\n]{0,40}\b(?:most|largest|biggest|tallest|longest|oldest|highest|deepest|smallest)\b/i,
    2,
    "lead",
  ],
  [
    "factual",
    /^\s*(?:what|who|when|where|which|why|how)(?:'s| (?:is|are|was|were|did|does|do|many|much|far|long|old|big))\b/i,
    1,
    "lead",
  ],
  [
    "factual",
    /\b(?:capital of|population of|who (?:wrote|invented|painted|discovered|was|built)|invented|discovered|history of|origin of|how (?:does|do) [^.\n]{0,40} work|what causes|what does \w+ stand for|what (?:is|are) the (?:largest|tallest|longest|smallest|biggest|speed|boiling|function|main causes)|how many \w+ (?:are|is|does|do)|why (?:is|do|does|are) (?:the|we))/i,
    2,
    "body",
  ],
  [
    "factual",
    /\b(?:difference between|explain how|in simple terms|roughly|how far)\b/i,
    1,
    "body",
  ],
  ["factual", /^\s*(?:what|who|when|where|which|why|how)\b/i, 0.5, "body"],
];

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
