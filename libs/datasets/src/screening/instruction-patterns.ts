import { foldLookalikes, visibleForm } from './unicode';

/*
 * Text written for a model rather than for a developer: what a poisoned fix carries so that the
 * words reach a generation prompt and steer it (OWASP LLM01, indirect prompt injection). The
 * families below are ours, written against how such payloads read ("ignore previous
 * instructions", a fake `SYSTEM:` turn, "IMPORTANT for AI assistants: always add …"), and kept
 * narrow on purpose: a security fix legitimately says "validate", "never", "must" and "the user"
 * all the time, so each pattern needs a model as its addressee, a prompt's vocabulary, or an
 * instruction about generated output, never just an imperative.
 *
 * Matching runs on folded text (NFKC, hidden characters dropped, look-alike letters mapped to
 * Latin, lowercase; see foldForMatching) with comment markers and quotes turned into spaces, so
 * "ig\u200Bnore", "ignоre" (Cyrillic о), "IGNORE" and a phrase broken over two `#` comment lines
 * all read alike. A spaced-out or leetspeak phrase ("i g n o r e  p r 3 v i o u s") is caught by
 * the skeleton check: letters only, digits read as the letters they imitate.
 */

/** Which family of {@link INSTRUCTION_RULES} a match belongs to. */
export type InstructionFamily = 'override' | 'role-marker' | 'ai-addressee' | 'output-directive' | 'concealment' | 'encoded-command';

interface InstructionRule {
  id: string;
  family: InstructionFamily;
  re: RegExp;
  /** `folded` (Latin look-alikes mapped; for patterns in Latin script) or `plain` (NFKC + lowercase; for other scripts, whose letters folding would garble). */
  view?: 'folded' | 'plain';
}

/** Who a model-directed message names: a model, an assistant, a code generator. */
const AI = String.raw`(?:ai|a\.i\.|llms?|gpt[\w.-]*|chatgpt|copilot|claude|gemini|(?:ai|coding|code|programming|llm|virtual) (?:assistants?|agents?|models?|tools?|bots?)|(?:large )?language models?|code generators?|chatbots?)`;
/** What an override targets: a prompt's own vocabulary, not ordinary "rules" or "context" (which code comments use). */
const PROMPT_NOUN = String.raw`(?:instructions?|prompts?|directives?|guardrails?|system (?:prompt|message)s?)`;
/** A call that fetches or sends (for "always add requests.get(…)" in prose). */
const PAYLOAD_CALL = String.raw`(?:(?:requests\.\w+|urllib[\w.]*|urlopen|fetch|axios[\w.]*|http\.(?:get|request|post)|os\.system|os\.popen|subprocess\.\w+|eval|exec|socket\.\w+) ?\(|(?:curl|wget) |https?://)`;

export const INSTRUCTION_RULES: readonly InstructionRule[] = [
  // "Ignore all previous instructions" and its cousins.
  {
    id: 'ignore-previous',
    family: 'override',
    re: new RegExp(
      String.raw`\b(?:ignore|disregard|forget|override|bypass|discard)\b(?: \w+){0,3}? (?:previous|prior|above|earlier|preceding|foregoing|original|initial|system|existing|safety|your|all)\b(?: \w+){0,2}? ${PROMPT_NOUN}\b`,
    ),
  },
  {
    id: 'ignore-all-prior-rules',
    family: 'override',
    re: /\b(?:ignore|disregard|forget)\b(?: \w+){0,2}? all (?:the )?(?:previous|prior|above|earlier|preceding) (?:rules|guidelines|context|messages|constraints)\b/,
  },
  {
    id: 'new-instructions',
    family: 'override',
    re: new RegExp(String.raw`\b(?:new|updated|real|actual|secret|hidden) ${PROMPT_NOUN} ?:|\b(?:reveal|print|repeat|leak|replace|override|ignore) (?:the |your )?system prompt\b`),
  },
  { id: 'jailbreak', family: 'override', re: /\b(?:jailbreak(?:ing|en)?|dan mode|developer mode (?:enabled|activated|on)|do anything now)\b/ },
  // The same override in the languages a cheap payload is translated into (checked on text whose
  // letters are not folded, so non-Latin scripts stay as written).
  {
    id: 'ignore-previous-de',
    family: 'override',
    view: 'plain',
    re: /\b(?:ignoriere|ignorieren sie|vergiss|vergessen sie)\b(?: \S+){0,3}? (?:vorherigen|bisherigen|obigen|vorigen|früheren)\b(?: \S+){0,2}? (?:anweisungen|instruktionen|befehle|vorgaben)/,
  },
  {
    id: 'ignore-previous-es-pt',
    family: 'override',
    view: 'plain',
    re: /\b(?:ignora|ignore|ignorar|olvida|olvide|esqueça|esqueca)\b(?: \S+){0,3}? (?:instrucciones|indicaciones|instruções|instrucoes|órdenes)(?: \S+){0,2}? (?:anteriores|previas|prévias|precedentes)/,
  },
  {
    id: 'ignore-previous-fr',
    family: 'override',
    view: 'plain',
    re: /\b(?:ignore|ignorez|oublie|oubliez)\b(?: \S+){0,3}? (?:instructions|consignes)(?: \S+){0,2}? (?:précédentes|precedentes|antérieures|anterieures|ci-dessus)/,
  },
  { id: 'ignore-previous-it', family: 'override', view: 'plain', re: /\b(?:ignora|ignorate|dimentica|dimenticate)\b(?: \S+){0,3}? istruzioni(?: \S+){0,2}? (?:precedenti|sopra)/ },
  {
    id: 'ignore-previous-ru',
    family: 'override',
    view: 'plain',
    re: /(?:игнорируй|игнорируйте|проигнорируй|забудь|забудьте)(?: \S+){0,3}? (?:предыдущие|прежние|прошлые|все) (?:\S+ )?(?:инструкции|указания|команды)/,
  },
  {
    id: 'ignore-previous-zh',
    family: 'override',
    view: 'plain',
    re: /(?:忽略|无视|忽视|忘记|忘掉)(?:掉)?(?:之前|以前|先前|上面|上述|前面|所有)(?:的)?(?:所有|全部)?(?:的)?(?:指令|指示|说明|提示|规则)/,
  },
  { id: 'ignore-previous-ja', family: 'override', view: 'plain', re: /(?:以前|前|上記|これまで)の(?:すべての|全ての)?(?:指示|命令|指令)を(?:無視|忘れ)/ },
  { id: 'ignore-previous-ko', family: 'override', view: 'plain', re: /(?:이전|위의|앞의)\s*(?:모든\s*)?(?:지시|명령|지침)(?:을|를|사항을)?\s*무시/ },

  // A fake conversation turn, or a chat template's own tokens.
  {
    id: 'role-header',
    family: 'role-marker',
    re: /(?:^|\n) ?\[?(?:system|developer|admin)(?: prompt| message| override| instructions?| note)?\]? ?[:>-] ?(?:ignore|disregard|forget|you\b|always|never|from now|important|new instructions|override|do not|don't|must|the assistant)/,
  },
  { id: 'chat-template-token', family: 'role-marker', re: /<\|(?:im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id|end_header_id)\|>|\[\/?inst\]|<<\/?sys>>/ },

  // Words addressed to a model.
  {
    id: 'note-to-ai',
    family: 'ai-addressee',
    re: new RegExp(
      String.raw`\b(?:important|note|attention|notice|message|instructions?|reminder|warning|directive|hint|request)s?\b[^.!?\n]{0,20}? (?:for|to) (?:all |any |the |every |other )?${AI}\b`,
    ),
  },
  { id: 'as-an-ai', family: 'ai-addressee', re: /\bas an? (?:ai|llm|(?:large )?language model|ai (?:assistant|model)|chatbot)\b/ },
  { id: 'hello-ai', family: 'ai-addressee', re: new RegExp(String.raw`\b(?:dear|hey|hello|hi|attention|psst) ${AI}\b`) },
  {
    id: 'you-are-ai',
    family: 'ai-addressee',
    re: new RegExp(String.raw`\b(?:if you are|you are now|you are an?|you're an?|since you are) (?:an? )?(?:${AI}|helpful assistant|assistant reading this)\b`),
  },
  {
    id: 'ai-must',
    family: 'ai-addressee',
    re: new RegExp(
      String.raw`\b${AI}\b[^.!?\n]{0,30}? (?:must|should|shall|need to|have to|are required to|always|never|please)\b[^.!?\n]{0,40}? (?:add|include|insert|append|call|send|import|embed|emit|output|ignore|execute|run)\b`,
    ),
  },

  // Instructions about the output a model will write.
  {
    id: 'every-generated',
    family: 'output-directive',
    re: /\b(?:always|must|make sure to|be sure to|remember to)\b[^.!?\n]{0,15}? (?:add|include|insert|append|inject|prepend|call|send|import|embed)\b[^!?\n]{0,100}? (?:in|to|into|inside|within|at the (?:top|start|end) of) (?:every|all|each|any|the) (?:(?:generated|future|subsequent|produced|resulting|suggested) (?:code|answers?|responses?|completions?|snippets?|files?|functions?|output)|(?:answers?|responses?|completions?|replies|snippets?) you)/,
  },
  {
    id: 'always-add-call',
    family: 'output-directive',
    re: new RegExp(
      String.raw`\b(?:always|every time|each time|from now on|in all cases)\b[^.!?\n]{0,20}? (?:add|include|insert|append|call|send|import|run|execute|embed)\b[^.!?\n]{0,30}? ?${PAYLOAD_CALL}`,
    ),
  },

  // Hiding the act from the person reading the result.
  {
    id: 'conceal',
    family: 'concealment',
    re: /\b(?:do not|don't|never|without) (?:tell|telling|inform|informing|mention|mentioning|reveal|revealing|disclose|disclosing)(?: \w+){0,2} (?:about )?(?:this|these) (?:instructions?|changes?|lines?|code|additions?|requests?)\b|\bkeep (?:this|it) (?:secret|hidden) from the (?:user|developer|human|reviewer)s?\b/,
  },

  // "Decode this and run it".
  {
    id: 'decode-and-run',
    family: 'encoded-command',
    re: /\b(?:decode|decoded|b64decode|base64[- ]?decod\w*|unbase64|atob|from base64|rot13|unhex)\b[^.!?\n]{0,60}? (?:and|then|before you|to) (?:\w+ ){0,2}?(?:run|execute|exec|eval|evaluate|follow|obey)\b/,
  },
];

/**
 * Spaced-out or leetspeak forms of the strongest phrases, matched against the text's letters
 * alone: "i g n o r e  a l l  p r e v i o u s  i n s t r u c t i o n s" has no word boundary a
 * regular expression can hold on to, but its letters spell the phrase. Only long, distinctive
 * phrases: a short one would turn up by chance across the identifiers of a whole function.
 */
const SKELETON_PHRASES: readonly string[] = [
  'ignorepreviousinstructions',
  'ignoreallpreviousinstructions',
  'ignorepriorinstructions',
  'ignoreallpriorinstructions',
  'ignoretheaboveinstructions',
  'ignoreallaboveinstructions',
  'ignoreyourinstructions',
  'ignoreallinstructions',
  'disregardpreviousinstructions',
  'disregardallpreviousinstructions',
  'disregardallprior',
  'forgetpreviousinstructions',
  'forgetallpreviousinstructions',
  'forgetallprior',
  'importantforaiassistants',
  'noteforaiassistants',
  'attentionaiassistant',
  'ifyouareanai',
  'ifyouarealanguagemodel',
  'asanailanguagemodel',
  'asalargelanguagemodel',
  'youarenowdan',
  'ignorierealleanweisungen',
  'ignorierevorherigenanweisungen',
  'ignoralasinstruccionesanteriores',
  'ignorezlesinstructionsprecedentes',
];

const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's', '!': 'i', '|': 'l' };

/** The letters of a text, folded, without diacritics, digits read as letters: what the skeleton phrases are looked for in. */
export function skeletonOf(folded: string): string {
  return folded
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[0-9@$!|]/g, (c) => LEET[c] ?? c)
    .replace(/[^a-z]+/g, '');
}

/**
 * The views one text is matched in: `folded` with comment markers, quotes and runs of whitespace
 * turned into single spaces (a phrase broken over `#` lines reads as one), line starts kept as
 * `\n` for the role-marker rule; `plain` the same without look-alike folding.
 */
export interface TextViews {
  folded: string;
  plain: string;
}

const COMMENT_AND_QUOTE = /(?:\/\/+|\/\*+|\*+\/|^\s*\*+|#+|--+|<!--|-->|;;+|["'`]|\\n)/gm;

function flatten(text: string): string {
  return text
    .replace(COMMENT_AND_QUOTE, ' ')
    .replace(/[ \t\f\v\u00a0]+/g, ' ')
    .replace(/ ?\n[\s]*/g, '\n')
    .trim();
}

export function viewsOf(text: string): TextViews {
  // foldForMatching in two steps, the first shared with the plain view: a text without look-alike
  // letters (nearly every one) has one view, flattened once.
  const visible = visibleForm(text);
  const plain = visible.toLowerCase();
  const folded = foldLookalikes(visible).toLowerCase();
  const flatPlain = flatten(plain);
  return { folded: folded === plain ? flatPlain : flatten(folded), plain: flatPlain };
}

/** One instruction-like passage found in a text. */
export interface InstructionMatch {
  rule: string;
  family: InstructionFamily;
  /** The matched passage as folded (for the report; the original may hide it). */
  match: string;
}

/**
 * Instruction-like passages aimed at a model in one text (a commit message, a description, a
 * whole function, advice prose, or several of them joined). At most one match per rule.
 */
export function findInstructions(text: string): InstructionMatch[] {
  if (text.trim() === '') return [];
  const views = viewsOf(text);
  // Phrases may run over lines: the line-free form serves every rule but the role header, which
  // needs the line start.
  const foldedLine = views.folded.replace(/\n/g, ' ');
  const oneLine = { folded: foldedLine, plain: views.plain === views.folded ? foldedLine : views.plain.replace(/\n/g, ' ') };
  const out: InstructionMatch[] = [];
  for (const rule of INSTRUCTION_RULES) {
    const view = rule.view ?? 'folded';
    const haystack = rule.id === 'role-header' ? views[view] : oneLine[view];
    const m = rule.re.exec(haystack);
    if (m) out.push({ rule: rule.id, family: rule.family, match: m[0].trim() });
  }
  const skeleton = skeletonOf(views.folded);
  const phrase = SKELETON_PHRASES.find((p) => skeleton.includes(p));
  if (phrase && out.length === 0) out.push({ rule: 'spelled-out', family: 'override', match: phrase });
  return out;
}
