// The topic half of the categoriser's rules (code, SQL, maths, data analysis): what a prompt is about. The task
// half is in category-rules.ts, which joins both into RULE_TABLE.
import type { Rule } from "./categories.ts";

const PROGRAMMING_LANGUAGES =
  "python|javascript|typescript|java|kotlin|golang|rust|c\\+\\+|c#|ruby|php|swift|scala|haskell|elixir|perl|lua|bash|powershell|node(?:\\.?js)?|react|vue|angular|django|flask|fastapi|express|spring|tokio|axum";

export const TOPIC_RULES: readonly Rule[] = [
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
];
