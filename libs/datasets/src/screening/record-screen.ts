import type { FixRecord, Language } from '@rescue/domain';
import { addedCapabilities, capabilitiesOf } from './code-capabilities';
import { findInstructions } from './instruction-patterns';
import { type HiddenChar, codePointName, findHiddenCharacters, findMixedScriptWords } from './unicode';

/**
 * Why a record (or a guideline) was quarantined. Stable strings: they appear in the quarantine
 * report and in `rescue kb quarantine list`.
 */
export const SCREEN_REASONS = [
  /** Text aimed at a model: "ignore previous instructions", a fake SYSTEM turn, "note for AI assistants". */
  'instruction_text',
  /** Invisible, bidirectional, tag or control characters. */
  'hidden_unicode',
  /** A word mixing Latin letters with Cyrillic/Greek look-alikes. */
  'mixed_script',
  /** A base64 blob that decodes to instructions or to a network/shell/secret call. */
  'encoded_payload',
  /** Free text that spells out an exfiltration (a secret read and a request in one passage). */
  'exfiltration_text',
  /** The fixed code reaches the network where the vulnerable code did not. */
  'added_network_call',
  /** The fixed code runs a shell or evaluates code where the vulnerable code did not. */
  'added_shell_exec',
  /** The fixed code reads a secret and can send it (a new secret read with a network call or a new URL). */
  'added_exfiltration',
  /** The fixed code names a new host for a network call it makes. */
  'added_url',
] as const;
export type ScreenReason = (typeof SCREEN_REASONS)[number];

/** One reason to distrust a text, with where it was found. */
export interface ScreenFinding {
  reason: ScreenReason;
  /** The field (`commitMessage`, `after`, …), or fields joined by `+` when a passage spans them. */
  field: string;
  /** The rule that fired (`ignore-previous`, `zero-width`, `requests`, …). */
  rule: string;
  /** What was found, printable: hidden characters written as `U+200B`, clipped. */
  detail: string;
}

/** A named piece of text to screen. */
export interface ScreenField {
  name: string;
  text: string | undefined;
  /** Prose (a message, a description, advice) as opposed to code: prose is also checked for spelled-out exfiltration. */
  prose?: boolean;
  /** Code: only its comments join the other fields' text when a passage split across fields is looked for. */
  code?: boolean;
}

const MAX_DETAIL = 100;

/** Text made safe to print in a report: hidden and control characters as `<U+…>`, one line, clipped. */
export function printable(text: string, max = MAX_DETAIL): string {
  const hidden = new Set(findHiddenCharacters(text).map((h) => h.index));
  let out = '';
  let i = 0;
  for (const ch of text) {
    out += hidden.has(i) ? `<${codePointName(ch.codePointAt(0) as number)}>` : ch;
    i += ch.length;
  }
  const flat = out.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function hiddenDetail(found: HiddenChar[]): string {
  const kinds = [...new Set(found.map((h) => h.kind))];
  const points = [...new Set(found.map((h) => codePointName(h.codePoint)))].slice(0, 6);
  // Tag characters mirror ASCII: what they spell is what a reviewer needs to see.
  const tags = found.filter((h) => h.kind === 'tag-character' && h.codePoint >= 0xe0020 && h.codePoint <= 0xe007e);
  const spelled = tags.length > 0 ? `, spelling ${JSON.stringify(printable(String.fromCharCode(...tags.map((h) => h.codePoint - 0xe0000)), 60))}` : '';
  return `${found.length} hidden character(s): ${kinds.join(', ')} (${points.join(' ')})${spelled}`;
}

/** Base64 runs long enough to carry a sentence (shorter ones are ids, hashes and padding). */
const BASE64_BLOB = /[A-Za-z0-9+/]{40,}={0,2}|[A-Za-z0-9_-]{40,}={0,2}/g;
/**
 * Whether a text has a run of 40 characters of either base64 alphabet, which every blob above
 * needs. Tried only where such a run starts, it reads each character about once; BASE64_BLOB
 * itself re-reads every identifier from each of its letters, and took a fifth of the screen's time
 * on code without any blob (nearly all of it).
 */
const BASE64_RUN = /(?:^|[^A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{40}/;

/** What a base64 blob says when it decodes to readable text, else undefined. */
function decodedText(blob: string): string | undefined {
  const bytes = Buffer.from(blob.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length < 16) return undefined;
  const text = bytes.toString('utf8');
  const readable = [...text].filter((c) => /[\x20-\x7e\n\t]/.test(c)).length;
  return readable / Math.max(1, [...text].length) >= 0.9 ? text : undefined;
}

function proseExfiltration(text: string): boolean {
  const caps = capabilitiesOf(text, undefined);
  const kinds = new Set(caps.values());
  return kinds.has('secret') && (kinds.has('network') || /\b(?:https?|ftp):\/\/\S+[?&]\w+=/.test(text));
}

/** The findings of one text on its own. */
function screenOne(field: ScreenField): ScreenFinding[] {
  const text = field.text ?? '';
  if (text === '') return [];
  const out: ScreenFinding[] = [];
  const hidden = findHiddenCharacters(text);
  if (hidden.length > 0) out.push({ reason: 'hidden_unicode', field: field.name, rule: hidden[0].kind, detail: hiddenDetail(hidden) });
  const mixed = findMixedScriptWords(text);
  if (mixed.length > 0)
    out.push({
      reason: 'mixed_script',
      field: field.name,
      rule: 'look-alike-letters',
      detail: `${mixed.length} word(s) mixing scripts: ${mixed
        .slice(0, 3)
        .map((m) => printable(m.word, 30))
        .join(', ')}`,
    });
  for (const m of findInstructions(text)) out.push({ reason: 'instruction_text', field: field.name, rule: m.rule, detail: printable(m.match) });
  for (const blob of BASE64_RUN.test(text) ? (text.match(BASE64_BLOB) ?? []) : []) {
    const decoded = decodedText(blob);
    if (!decoded) continue;
    const inner = findInstructions(decoded);
    const caps = capabilitiesOf(decoded, undefined);
    if (inner.length > 0 || caps.size > 0) {
      out.push({ reason: 'encoded_payload', field: field.name, rule: inner[0]?.rule ?? [...caps.keys()][0], detail: `base64 decoding to ${JSON.stringify(printable(decoded, 60))}` });
      break;
    }
  }
  if (field.prose && proseExfiltration(text)) out.push({ reason: 'exfiltration_text', field: field.name, rule: 'secret-and-request', detail: printable(text) });
  return out;
}

/**
 * The comments of a piece of code, one per line, in order: what a split passage's code half is.
 * Whole-line comments (`#`, `//`, `/*`, `*`, `--`) and trailing `#` or `//` comments after
 * whitespace; string literals are not taken (they rarely carry prose, and a URL's `//` would cut
 * them). A heuristic on purpose: each field is also screened whole, comments and all.
 */
export function commentText(code: string): string {
  const out: string[] = [];
  for (const line of code.split('\n')) {
    const whole = /^\s*(?:#(?![!{[])|\/\/|\/\*|\*|--)(.*)$/.exec(line);
    if (whole) {
      out.push(whole[1]);
      continue;
    }
    const trailing = /\s(?:#|\/\/)\s(.*)$/.exec(line);
    if (trailing) out.push(trailing[1]);
  }
  return out.join('\n');
}

/**
 * Screens several texts of one item, each alone and then joined, so that a passage split across
 * fields (half an instruction in the commit message, the rest in a code comment) is found too and
 * reported under the fields it spans. Code joins by its comments only: a passage split between a
 * commit message and a comment in the middle of a function has a whole function between its
 * halves otherwise, and a model reading both still puts them together.
 */
export function screenTexts(fields: ScreenField[]): ScreenFinding[] {
  const present = fields.filter((f) => (f.text ?? '').trim() !== '');
  const out = present.flatMap(screenOne);
  const joinable = present.map((f) => ({ name: f.name, text: f.code ? commentText(f.text ?? '') : (f.text ?? '') })).filter((f) => f.text.trim() !== '');
  if (joinable.length < 2) return out;
  const seen = new Set(out.filter((f) => f.reason === 'instruction_text').map((f) => f.rule));
  const report = (rule: string, span: string, match: string): void => {
    if (seen.has(rule)) return;
    seen.add(rule);
    out.push({ reason: 'instruction_text', field: span, rule, detail: printable(match) });
  };
  // Pairs first, in the order they would be read, so the report names the two fields a passage spans…
  for (const a of joinable) {
    for (const b of joinable) {
      if (a !== b) for (const m of findInstructions(`${a.text}\n${b.text}`)) report(m.rule, `${a.name}+${b.name}`, m.match);
    }
  }
  // …then all of them, for a passage spread over three or more.
  for (const m of findInstructions(joinable.map((f) => f.text).join('\n'))) report(m.rule, joinable.map((f) => f.name).join('+'), m.match);
  return out;
}

/** The code-delta findings of a fix: capabilities the fixed version gained. */
export function screenFixDelta(before: string, after: string, language: Language | undefined): ScreenFinding[] {
  const added = addedCapabilities(before, after, language);
  const out: ScreenFinding[] = [];
  const hosts = added.urlHosts.length > 0 ? ` (new hosts: ${added.urlHosts.slice(0, 3).join(', ')})` : '';
  if (added.network.length > 0) out.push({ reason: 'added_network_call', field: 'after', rule: added.network[0], detail: `the fix adds ${added.network.join(', ')}${hosts}` });
  if (added.shell.length > 0) out.push({ reason: 'added_shell_exec', field: 'after', rule: added.shell[0], detail: `the fix adds ${added.shell.join(', ')}` });
  if (added.secret.length > 0 && (added.afterHasNetwork || added.urlHosts.length > 0)) {
    out.push({ reason: 'added_exfiltration', field: 'after', rule: added.secret[0], detail: `the fix adds a secret read (${added.secret.join(', ')}) to code that can send it${hosts}` });
  }
  if (added.network.length === 0 && added.urlHosts.length > 0 && added.afterHasNetwork) {
    out.push({ reason: 'added_url', field: 'after', rule: 'new-host', detail: `the fix names new host(s) ${added.urlHosts.slice(0, 3).join(', ')} in code that makes network calls` });
  }
  return out;
}

/**
 * Everything wrong with one fix pair: its free text (commit message, description), both versions
 * of the code (the vulnerable one reaches the distilling model too), its names, each alone and
 * joined, and what the fix adds. Empty for a clean record.
 */
export function screenFixRecord(record: Pick<FixRecord, 'before' | 'after' | 'language' | 'commitMessage' | 'description' | 'functionName' | 'filePath'>): ScreenFinding[] {
  return [
    ...screenTexts([
      { name: 'commitMessage', text: record.commitMessage, prose: true },
      { name: 'description', text: record.description, prose: true },
      { name: 'before', text: record.before, code: true },
      { name: 'after', text: record.after, code: true },
    ]),
    ...screenTexts([{ name: 'functionName', text: record.functionName }]),
    ...screenTexts([{ name: 'filePath', text: record.filePath }]),
    ...screenFixDelta(record.before, record.after, record.language),
  ];
}

/** The findings of a piece of prose that may be quoted to a model (a guideline, a cause, advice). */
export function screenProse(text: string, field = 'text'): ScreenFinding[] {
  return screenTexts([{ name: field, text, prose: true }]);
}
