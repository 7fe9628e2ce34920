import type { CweEntry } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { dedupeSentences, extractiveSummary, firstSentence, genericMitigations } from '@rescue/knowledge';

const entry: CweEntry = {
  id: 'CWE-89',
  name: 'SQL Injection (test entry)',
  abstraction: 'Base',
  description: 'The product builds an SQL command from outside input without neutralizing it.',
  extendedDescription: 'Attackers can change the query. More text follows here.',
  mitigations: [
    { phase: 'Operation', description: 'Run the database with least privilege. Extra sentence.' },
    { phase: 'Implementation', description: 'Use prepared statements with bound parameters for every query.' },
    { phase: 'Architecture and Design', description: 'Use a persistence layer that separates code from data.' },
  ],
  parents: ['CWE-943'],
};

const rec = (commitMessage: string, extra: Partial<FixRecord> = {}): FixRecord => ({
  id: 'c'.repeat(32),
  language: 'python',
  cwe: 'CWE-89',
  before: 'a',
  after: 'b',
  changedLines: { deleted: [1], added: [1], source: 'dataset' },
  origin: { file: 'f', line: 1, format: 'generic' },
  commitMessage,
  ...extra,
});

describe('extractive distillation', () => {
  it('puts implementation mitigations first, de-duplicates, and never turns commit subjects into guidelines', () => {
    const s = extractiveSummary(entry, [rec('Fix SQL injection in user lookup by using parameters\n\nlong body'), rec('Hopefully fixed buffer overflow in cwd_prefix.'), rec('Bump version to 1.2')]);
    expect(s.guidelines[0]).toBe('Use prepared statements with bound parameters for every query.');
    expect(s.guidelines).toContain('Run the database with least privilege.');
    // A commit subject says what one fix did, and anyone with a fix in the data wrote it.
    expect(s.guidelines.join(' ')).not.toMatch(/Fix SQL injection|Hopefully|Bump version/);
    expect(s.cause).toBe('The product builds an SQL command from outside input without neutralizing it. Attackers can change the query.');
    expect(s.sources).toEqual(['catalog']);
  });

  it("leads with CodeQL's advice in the node's language, keeps only actionable sentences, drops advice naming another language", () => {
    const advice = [
      { language: 'python' as const, text: 'Most database connector libraries offer a way of safely embedding untrusted data. Use query parameters: pass the values separately from the SQL text.' },
      { language: 'java' as const, text: 'In Java, use a PreparedStatement instead of building the query by concatenation.' },
      { language: 'javascript' as const, text: 'Validate the input against an allowlist before it reaches the query.' },
    ];
    const s = extractiveSummary(entry, [], 'python', advice);
    expect(s.guidelines[0]).toBe('Use query parameters: pass the values separately from the SQL text.');
    expect(s.guidelines.join(' ')).not.toMatch(/PreparedStatement|Most database connector/);
    expect(s.guidelines).toContain('Validate the input against an allowlist before it reaches the query.');
    expect(s.sources).toEqual(['codeql', 'catalog']);
  });

  it("puts the catalogue's boilerplate after its specific advice", () => {
    const boiler = 'Assume all input is malicious.';
    const e = {
      ...entry,
      mitigations: [
        { phase: 'Implementation', description: `${boiler} Use an accept-known-good strategy.` },
        { phase: 'Implementation', description: 'Escape every quote in the identifier before it is embedded.' },
      ],
    };
    const others = Array.from({ length: 6 }, (_, i) => ({ ...entry, id: `CWE-${1000 + i}` as const, mitigations: [{ phase: 'Implementation', description: boiler }] }));
    const isGeneric = genericMitigations([e, ...others]);
    expect(isGeneric(boiler)).toBe(true);
    expect(extractiveSummary(e, [], 'python', [], isGeneric).guidelines).toEqual(['Escape every quote in the identifier before it is embedded.', boiler]);
  });

  it('without a catalogue entry, the cause names the CWE and functions', () => {
    const s = extractiveSummary(undefined, [rec('x', { functionName: 'find_user', description: 'Look up a user by name.' })]);
    expect(s.cause).toContain('CWE-89');
    expect(s.cause).toContain('find_user');
    expect(s.guidelines).toEqual([]);
  });

  it('firstSentence and dedupeSentences', () => {
    expect(firstSentence('One two three. Four.')).toBe('One two three.');
    expect(dedupeSentences(['Validate every path input.', 'validate every path input!', 'Escape HTML output always.'])).toEqual(['Validate every path input.', 'Escape HTML output always.']);
  });
});
