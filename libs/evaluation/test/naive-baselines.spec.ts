import { type EvaluatedSystem, NaiveBaselines, bestBaseline, evaluateRetrieval, reciprocalRankFusion, setName } from '@rescue/evaluation';

describe('naive baselines', () => {
  let baselines: NaiveBaselines;
  beforeAll(async () => {
    baselines = await NaiveBaselines.build(
      [
        { id: 'r1', cwe: 'CWE-89', language: 'python', text: 'def find(db, name): cur.execute("SELECT * FROM users WHERE name = \'" + name + "\'")' },
        { id: 'r2', cwe: 'CWE-78', language: 'python', text: 'def ping(host): os.system("ping " + host)' },
        { id: 'r3', cwe: 'CWE-89', language: 'java', text: 'stmt.executeQuery("SELECT * FROM users WHERE name = \'" + name + "\'")' },
      ],
      [
        { cwe: 'CWE-117', text: 'Improper Output Neutralization for Logs: the product writes user input into log entries' },
        { cwe: 'CWE-89', text: 'SQL Injection: the product builds an SQL command from input' },
      ],
    );
  });
  afterAll(() => baselines.close());

  it('ranks CWEs by their best raw record, in the task language or any, and by the catalogue, and fuses both', async () => {
    const task = { prompt: 'look the user up by name in the users table with SELECT', language: 'java' };
    expect(await baselines.rank('naive-records', task)).toEqual(['CWE-89']);
    expect(await baselines.rank('naive-records-any', { prompt: 'run ping on the host with os.system', language: 'java' })).toEqual(['CWE-78']);
    // In the task's language only when the records have it.
    expect(await baselines.rank('naive-records', { prompt: 'run ping on the host', language: 'java' })).toEqual([]);
    expect((await baselines.rank('naive-catalog', { prompt: 'write the user input into the log entries', language: 'go' }))[0]).toBe('CWE-117');
    expect((await baselines.rank('naive-rrf-any', { prompt: 'SQL command SELECT users log', language: 'go' }))[0]).toBe('CWE-89');
    expect(await baselines.rank('naive-catalog', { prompt: '!!!', language: 'go' })).toEqual([]);
  });

  it('fuses rankings by reciprocal rank, ties by id', () => {
    expect(
      reciprocalRankFusion([
        ['a', 'b'],
        ['b', 'c'],
      ]),
    ).toEqual(['b', 'a', 'c']);
  });
});

describe('evaluateRetrieval', () => {
  it('reports each system per set (seen/unseen, fired) and the macro average, negatives measured by how often they fire', async () => {
    const sets = [
      {
        name: 'dev',
        source: 'x',
        tasks: [
          { id: 't1', language: 'python' as const, prompt: 'p', goldCwes: ['CWE-89'] },
          { id: 't2', language: 'python' as const, prompt: 'p', goldCwes: ['CWE-117'] },
        ],
      },
      { name: 'plain', source: 'y', tasks: [{ id: 'n1', language: 'python' as const, prompt: 'p', goldCwes: [] }] },
    ];
    const answers: Record<string, string[]> = { t1: ['CWE-79', 'CWE-89'], t2: ['CWE-117'], n1: [] };
    const rescue: EvaluatedSystem = { name: 'rescue', rank: async (t) => ({ ranked: answers[t.id], abstained: answers[t.id].length === 0 }) };
    const naive: EvaluatedSystem = { name: 'naive-records', rank: async () => ({ ranked: ['CWE-89'], abstained: false }) };
    const report = await evaluateRetrieval(sets, [rescue, naive], (c) => c === 'CWE-89');
    const dev = report.sets[0];
    expect(dev.negative).toBe(false);
    expect(dev.systems.rescue.all).toMatchObject({ tasks: 2, hitAt1: 0.5, hitAt4: 1, mrr: 0.75 });
    expect(dev.systems.rescue.seen.tasks).toBe(1);
    expect(dev.systems.rescue.unseen.hitAt1).toBe(1);
    expect(report.sets[1]).toMatchObject({ negative: true });
    expect(report.sets[1].systems.rescue.fired).toBe(0);
    expect(report.sets[1].systems['naive-records'].fired).toBe(1);
    expect(report.macro.rescue).toMatchObject({ hitAt4: 1, mrr: 0.75, firedOnNegatives: 0 });
    expect(bestBaseline(dev, (m) => m.all.mrr, ['naive-records'])).toEqual({ name: 'naive-records', value: 0.5 });
  });

  it('names a set by its folder for tasks.jsonl, else by its file', () => {
    expect(setName('/data/dev-eval/cweval/tasks.jsonl')).toBe('cweval');
    expect(setName('/x/security-tasks.jsonl')).toBe('security-tasks');
    expect(setName('/x/safecoder-sec-eval')).toBe('safecoder-sec-eval');
  });
});
