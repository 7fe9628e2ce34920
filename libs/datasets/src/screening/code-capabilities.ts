import type { Language } from '@rescue/domain';

/*
 * What a function can do beyond computing: reach the network, run a shell or evaluate code, read
 * secrets from the environment. A security fix narrows what code does; a "fix" that gives the
 * function a capability its vulnerable version did not have (a new `requests.get`, an `os.system`,
 * an `os.environ['AWS_SECRET…']`) is what a poisoned secure example looks like (OWASP LLM04), and
 * the generating model would copy it into every answer for that weakness.
 *
 * The rules below are ours. They are deliberately about the capability, not about unsafe use of
 * it, and they leave out the forms real fixes add: `subprocess.run([...])` with a list, `execFile`,
 * `ProcessBuilder`, `execv*`, `shlex.quote`, URL parsing and allow-lists (`urlparse`, `new URL`).
 */

export type CapabilityKind = 'network' | 'shell' | 'secret';

interface CapabilityRule {
  id: string;
  kind: CapabilityKind;
  re: RegExp;
  /** Languages the rule is about; every language when absent. */
  languages?: readonly Language[];
}

const C_LIKE: readonly Language[] = ['c', 'cpp'];
const PY: readonly Language[] = ['python'];
const JS: readonly Language[] = ['javascript', 'typescript'];

/** Names of environment variables that hold credentials. */
const SECRET_NAME = String.raw`[A-Za-z0-9_]*(?:SECRET|TOKEN|PASSW|PASSWD|PWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY|AWS_|SESSION_?KEY|AUTH_?KEY)[A-Za-z0-9_]*`;

const RULES: readonly CapabilityRule[] = [
  // Network clients.
  { id: 'requests', kind: 'network', re: /\brequests\.(?:get|post|put|patch|delete|head|request|Session)\b/ },
  { id: 'urlopen', kind: 'network', re: /\burlopen\s*\(|\burllib\d?\.request\.(?:Request|urlopen)\b|\burlretrieve\s*\(/ },
  { id: 'http-client', kind: 'network', re: /\bhttp\.client\.|\bHTTPS?Connection\s*\(|\bhttpx\.\w+|\baiohttp\.\w+|\bsmtplib\.\w+|\bftplib\.\w+|\bparamiko\.\w+/ },
  {
    id: 'socket',
    kind: 'network',
    re: /\bsocket\.(?:socket|create_connection)\s*\(|\bnew\s+Socket\s*\(|\bTCPSocket\.(?:new|open)\b|\bnet\.(?:connect|createConnection)\s*\(|\bnet\.Dial(?:Timeout)?\s*\(/,
  },
  { id: 'fetch', kind: 'network', re: /(?<![\w.$])fetch\s*\(|\bXMLHttpRequest\b|\baxios(?:\.\w+)?\s*\(|\bhttps?\.(?:get|request)\s*\(|\bnew\s+WebSocket\s*\(|\bnavigator\.sendBeacon\b/ },
  { id: 'jvm-http', kind: 'network', re: /\.openConnection\s*\(|\.openStream\s*\(|\bHttpClient\.new\w*\s*\(|\bnew\s+OkHttpClient\b|\bRestTemplate\s*\(/ },
  { id: 'go-http', kind: 'network', re: /\bhttp\.(?:Get|Post|PostForm|Head)\s*\(|\bhttp\.NewRequest(?:WithContext)?\s*\(/ },
  { id: 'ruby-http', kind: 'network', re: /\bNet::HTTP\b|\bURI\.open\b|\bopen-uri\b|\bHTTParty\.\w+|\bFaraday\.\w+|\bRestClient\.\w+/ },
  { id: 'curl-lib', kind: 'network', re: /\bcurl_(?:exec|init)\s*\(|\bcurl_easy_(?:perform|init)\s*\(|\bfsockopen\s*\(/ },
  // A download command in a shell string, given a URL or a placeholder for one (`wget %s`).
  { id: 'shell-fetch', kind: 'network', re: /\b(?:curl|wget)\s+(?:-{1,2}[\w-]+\s+)*(?:['"]?(?:https?|ftp):\/\/|%s|\{|\$|['"]\s*\+)|\/dev\/tcp\/|\bnc\s+-e\b/ },

  // Shells and code evaluation.
  { id: 'os-system', kind: 'shell', languages: PY, re: /\bos\.(?:system|popen)\s*\(|\bcommands\.get(?:status)?output\s*\(|\bpty\.spawn\s*\(/ },
  { id: 'shell-true', kind: 'shell', languages: PY, re: /\bshell\s*=\s*True\b/ },
  { id: 'py-eval', kind: 'shell', languages: PY, re: /(?<![\w.])(?:eval|exec)\s*\(|\b__import__\s*\(/ },
  { id: 'js-eval', kind: 'shell', languages: JS, re: /(?<![\w.$])(?:eval|execSync|exec)\s*\(|\bnew\s+Function\s*\(|\bvm\.runIn\w*Context\s*\(|\bchild_process\.(?:exec|execSync)\s*\(/ },
  { id: 'c-system', kind: 'shell', languages: C_LIKE, re: /(?<![\w.>:])(?:system|popen)\s*\(/ },
  { id: 'java-exec', kind: 'shell', languages: ['java', 'kotlin', 'scala'], re: /\bRuntime\.getRuntime\(\)\.exec\s*\(|\bScriptEngine(?:Manager)?\b/ },
  { id: 'go-shell', kind: 'shell', languages: ['go'], re: /\bexec\.Command(?:Context)?\s*\(\s*(?:ctx\s*,\s*)?"(?:sh|bash|\/bin\/sh|\/bin\/bash|cmd|cmd\.exe|powershell)"/ },
  // Ruby's multi-argument `system('ls', dir)` is the safe form fixes move to; a command string
  // with interpolation, backticks with interpolation and eval are not.
  { id: 'ruby-shell', kind: 'shell', languages: ['ruby'], re: /\b(?:system|exec|spawn|IO\.popen|Open3\.\w+)\s*\(?\s*"[^"\n]*#\{|%x[({[]|`[^`\n]*#\{|(?<![\w.])eval\s*\(|\binstance_eval\s*\(/ },
  { id: 'php-shell', kind: 'shell', languages: ['php'], re: /(?<![\w>:$])(?:system|shell_exec|passthru|popen|proc_open|eval|assert)\s*\(/ },
  { id: 'shell-c-flag', kind: 'shell', re: /['"](?:\/bin\/)?(?:sh|bash|zsh)['"]\s*,\s*['"]-c['"]|\bpowershell(?:\.exe)?\s+-(?:enc|encodedcommand|c|command)\b/i },

  // Secrets: credentials read from the environment or from well-known files, or the whole
  // environment at once (what an exfiltration sends).
  {
    id: 'env-secret',
    kind: 'secret',
    re: new RegExp(String.raw`(?:\bos\.(?:environ(?:\.get)?|getenv)|\bprocess\.env|\bSystem\.getenv|\bgetenv|\bENV|\bos\.Getenv|\$_ENV|\$_SERVER)\s*[\[(.]\s*['"]?${SECRET_NAME}`, 'i'),
  },
  { id: 'whole-env', kind: 'secret', re: /\bdict\(\s*os\.environ\s*\)|\bos\.environ\.copy\(\)|\bJSON\.stringify\(\s*process\.env\s*\)|\bSystem\.getenv\(\s*\)|\bos\.Environ\(\)|\bENV\.to_h\b/ },
  { id: 'credential-file', kind: 'secret', re: /~\/\.ssh\b|\.ssh\/id_(?:rsa|ed25519|ecdsa)|\.aws\/credentials|\/etc\/shadow\b|\.netrc\b|\.git-credentials\b/ },
];

/** The capabilities found in code, by rule id. */
export function capabilitiesOf(code: string, language: Language | undefined): Map<string, CapabilityKind> {
  const out = new Map<string, CapabilityKind>();
  const text = withoutCommentLines(code, language);
  for (const rule of RULES) {
    if (rule.languages && language && !rule.languages.includes(language)) continue;
    if (rule.re.test(text)) out.set(rule.id, rule.kind);
  }
  return out;
}

/** Hosts of the absolute URLs in code (comments left out: a link to an advisory is not a call). */
export function urlHostsOf(code: string, language: Language | undefined): Set<string> {
  const hosts = new Set<string>();
  for (const m of withoutCommentLines(code, language).matchAll(/\b(?:https?|ftp|wss?):\/\/([A-Za-z0-9.-]+\.[A-Za-z]{2,}|\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?/g)) hosts.add(m[1].toLowerCase());
  return hosts;
}

/**
 * Whole-line comments and block comments removed: a fix that adds "# do not use os.system here"
 * gives the function no new capability. Trailing comments stay (telling them from `#` or `//`
 * inside strings and URLs needs a parser, and they rarely hold calls).
 */
function withoutCommentLines(code: string, language: Language | undefined): string {
  // `#` starts a comment in the scripting languages, and a directive in C and C++.
  const hashComments = language !== 'c' && language !== 'cpp';
  return code
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .split('\n')
    .filter((line) => !(/^\s*(?:\/\/|\*)/.test(line) || (hashComments && /^\s*#(?![!{[])/.test(line))))
    .join('\n');
}

/** What the fixed version can do that the vulnerable one could not (rule ids of each kind the vulnerable code had none of). */
export interface AddedCapabilities {
  network: string[];
  shell: string[];
  secret: string[];
  /** Hosts the fixed code names and the vulnerable code did not. */
  urlHosts: string[];
  /** Whether the fixed code can reach the network at all (a new host only matters then). */
  afterHasNetwork: boolean;
}

export function addedCapabilities(before: string, after: string, language: Language | undefined): AddedCapabilities {
  const was = capabilitiesOf(before, language);
  const now = capabilitiesOf(after, language);
  // By kind: a fix that swaps `os.system('wget …')` for `requests.get` reaches the network no more
  // than before. A new host for a function that already did is `urlHosts`' business.
  const had = new Set(was.values());
  const added = (kind: CapabilityKind): string[] => (had.has(kind) ? [] : [...now].filter(([, k]) => k === kind).map(([id]) => id));
  const hostsBefore = urlHostsOf(before, language);
  return {
    network: added('network'),
    shell: added('shell'),
    secret: added('secret'),
    urlHosts: [...urlHostsOf(after, language)].filter((h) => !hostsBefore.has(h)).sort(),
    afterHasNetwork: [...now.values()].includes('network'),
  };
}
