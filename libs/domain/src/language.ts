/** Languages Rescue knows by name. Slicing support is narrower and lives in the slicing library. */
export const LANGUAGES = [
  'c',
  'cpp',
  'python',
  'javascript',
  'typescript',
  'java',
  'go',
  'ruby',
  'php',
  'rust',
  'csharp',
  'kotlin',
  'swift',
  'scala',
  'perl',
  'shell',
  'lua',
  'haskell',
  'r',
  'dart',
  'elixir',
  'objective-c',
  'sql',
  /** A language Rescue has no name for: retrieval still runs on its language-independent facets. */
  'other',
] as const;

export type Language = (typeof LANGUAGES)[number];

export function isLanguage(value: string): value is Language {
  return (LANGUAGES as readonly string[]).includes(value);
}

/**
 * File extension → language. Case matters before lowercasing: `.C` is C++ by the GCC convention,
 * while `.c` is C. `.h` is read as C: headers are ambiguous and C is the more common owner in
 * fix datasets; a user who knows better states the language in the generic schema.
 */
const CASE_SENSITIVE_EXTENSIONS: Record<string, Language> = { '.C': 'cpp', '.H': 'cpp' };

const EXTENSIONS: Record<string, Language> = {
  '.c': 'c',
  '.h': 'c',
  '.cc': 'cpp',
  '.cpp': 'cpp',
  '.cxx': 'cpp',
  '.c++': 'cpp',
  '.hh': 'cpp',
  '.hpp': 'cpp',
  '.hxx': 'cpp',
  '.ipp': 'cpp',
  '.py': 'python',
  '.pyw': 'python',
  '.js': 'javascript',
  '.jsx': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.ts': 'typescript',
  '.tsx': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.java': 'java',
  '.go': 'go',
  '.rb': 'ruby',
  '.erb': 'ruby',
  '.rake': 'ruby',
  '.php': 'php',
  '.rs': 'rust',
  '.cs': 'csharp',
  '.kt': 'kotlin',
  '.kts': 'kotlin',
  '.swift': 'swift',
  '.scala': 'scala',
  '.pl': 'perl',
  '.pm': 'perl',
  '.sh': 'shell',
  '.bash': 'shell',
  '.lua': 'lua',
  '.hs': 'haskell',
  '.r': 'r',
  '.dart': 'dart',
  '.ex': 'elixir',
  '.exs': 'elixir',
  '.m': 'objective-c',
  '.sql': 'sql',
};

/** Names and short forms users write for a language (`C++`, `py`, `golang`). */
const ALIASES: Record<string, Language> = {
  'c++': 'cpp',
  cxx: 'cpp',
  py: 'python',
  python3: 'python',
  js: 'javascript',
  node: 'javascript',
  nodejs: 'javascript',
  ts: 'typescript',
  golang: 'go',
  rb: 'ruby',
  'c#': 'csharp',
  cs: 'csharp',
  rs: 'rust',
  kt: 'kotlin',
  csharp: 'csharp',
  'c sharp': 'csharp',
  'asp.net': 'csharp',
  bash: 'shell',
  sh: 'shell',
  zsh: 'shell',
  objc: 'objective-c',
  'objective c': 'objective-c',
  typescriptreact: 'typescript',
  javascriptreact: 'javascript',
  jsx: 'javascript',
  tsx: 'typescript',
};

/** The language of a file name from its extension, or undefined when the extension is unknown. */
export function languageFromFileName(fileName: string): Language | undefined {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  const dot = base.lastIndexOf('.');
  if (dot <= 0 && !base.startsWith('.')) return undefined;
  const ext = base.slice(dot);
  return own(CASE_SENSITIVE_EXTENSIONS, ext) ?? own(EXTENSIONS, ext.toLowerCase());
}

/** A table lookup that never reaches `Object.prototype` (`constructor`, `__proto__` are not languages). */
function own(table: Record<string, Language>, key: string): Language | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** A language name as users write it (`C++`, `Python`, `golang`) → canonical id, or undefined. */
export function normalizeLanguageName(name: string): Language | undefined {
  const key = name.trim().toLowerCase();
  if (isLanguage(key)) return key;
  return own(ALIASES, key);
}

/**
 * A task's language as users write it: a known name or alias, or `other` for any other plausible
 * language name (`Zig`, `COBOL`), so a task in a language Rescue has no name for is still
 * retrieved on its language-independent facets instead of being refused. Undefined only for
 * something that is not a language name at all (empty, or not a short word).
 */
export function taskLanguage(name: string): Language | undefined {
  const known = normalizeLanguageName(name);
  if (known) return known;
  return /^[\p{L}][\p{L}\p{N}+#.\- ]{0,39}$/u.test(name.trim()) ? 'other' : undefined;
}
