import type { CweEntry } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { dedupeSentences, extractiveSummary, firstSentence } from '@rescue/knowledge';

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
  it('puts implementation mitigations first, adds fix subjects from commits, and de-duplicates', () => {
    const s = extractiveSummary(entry, [rec('Fix SQL injection in user lookup by using parameters\n\nlong body'), rec('Fix SQL injection in user lookup by using parameters'), rec('Bump version to 1.2')]);
    expect(s.guidelines[0]).toBe('Use prepared statements with bound parameters for every query.');
    expect(s.guidelines).toContain('Run the database with least privilege.');
    expect(s.guidelines.filter((g) => g.startsWith('Fix SQL injection'))).toHaveLength(1);
    expect(s.guidelines.join(' ')).not.toContain('Bump version');
    expect(s.cause).toBe('The product builds an SQL command from outside input without neutralizing it. Attackers can change the query.');
    expect(s.sources).toEqual(['catalog', 'commit-messages']);
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
