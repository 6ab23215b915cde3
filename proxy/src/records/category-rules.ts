// The categoriser's rules: the task half here (summarize, translate, …, conversation, factual), the topic half in
// category-topic-rules.ts, joined into RULE_TABLE. Pure data; records/category.ts reads it (windows, weights per
// part of the prompt, the pick).
import { CATEGORIES, type Category, type Rule } from "./categories.ts";
import { TOPIC_RULES } from "./category-topic-rules.ts";

export { CATEGORIES, type Category };

const HUMAN_LANGUAGES =
  "english|french|spanish|german|italian|portuguese|dutch|japanese|chinese|mandarin|cantonese|korean|arabic|russian|polish|czech|slovak|swedish|danish|norwegian|finnish|greek|turkish|hindi|urdu|bengali|vietnamese|thai|indonesian|malay|latin|hebrew|ukrainian|romanian|hungarian|catalan|basque|persian|farsi|swahili|tagalog";

// [category, pattern, weight, scope, system factor (default SYSTEM_FACTOR)]. Each rule counts at most once per
// part. Patterns are compiled once, carry no `g` flag (so `test()` keeps no state between calls), and are written
// to stay linear: no nested or adjacent quantifiers over the same characters, `[ \t]` rather than `\s` next to
// `^`/`$` in multiline patterns. Typical prompts take ~50 µs; inputs built to make the rules backtrack (the ones
// in test/unit/records/category.test.ts) took under 2 ms at the full window when this was written.
export const RULE_TABLE: readonly Rule[] = [
  ...TOPIC_RULES,
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
