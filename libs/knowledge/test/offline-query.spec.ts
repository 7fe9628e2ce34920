import { offlineQuery } from '@rescue/knowledge';
import { Slicer } from '@rescue/slicing';

describe('offlineQuery (no LLM)', () => {
  let slicer: Slicer;
  beforeAll(async () => {
    slicer = await Slicer.create();
  });

  const prefix = ['import yaml', 'from flask import request', '', '# parse the uploaded YAML document', 'def load():', '    data = request.get_data()', ''].join('\n');

  it('searches CWE prose with the prefix\'s comments and the API facet with its calls and imports', async () => {
    const q = await offlineQuery({ language: 'python', prompt: prefix }, slicer);
    expect(q.text).toBe('parse the uploaded YAML document');
    expect(q.apis).toEqual(expect.arrayContaining(['request.get_data', 'get_data', 'yaml', 'flask', 'request']));
    // The code facets get the whole prefix, the cause stand-in the whole task.
    expect(q.code).toBe(prefix);
    expect(q.cause).toBe(prefix);
    expect(q.language).toBe('python');
  });

  it('uses the whole prefix as text when it has no comments', async () => {
    const code = 'def f(p):\n    return open(p).read()\n';
    expect((await offlineQuery({ language: 'python', prompt: code }, slicer)).text).toBe(code);
  });

  it('takes an instruction as it is', async () => {
    const prompt = 'Write a function that stores a user message in the database. # not a comment';
    const q = await offlineQuery({ language: 'python', prompt, kind: 'instruction' }, slicer);
    expect(q.text).toBe(prompt);
  });

  it('still answers for a language without a grammar: no API facet, the task as text', async () => {
    const q = await offlineQuery({ language: 'php', prompt: '<?php system($_GET["c"]); // run it' }, slicer);
    expect(q.apis).toEqual([]);
    expect(q.text).toBe('<?php system($_GET["c"]); // run it');
  });
});
