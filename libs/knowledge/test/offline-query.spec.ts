import { offlineQuery } from '@rescue/knowledge';
import { Slicer } from '@rescue/slicing';

describe('offlineQuery (no LLM)', () => {
  let slicer: Slicer;
  beforeAll(async () => {
    slicer = await Slicer.create();
  });

  const prefix = ['import yaml', 'from flask import request', '', '# parse the uploaded YAML document', 'def load():', '    data = request.get_data()', ''].join('\n');

  it('searches the whole prefix as words and as code, and the API facet with its calls and imports', async () => {
    const q = await offlineQuery({ language: 'python', prompt: prefix }, slicer);
    // A prefix's identifiers name what it does as much as its comments do: all of it is searched.
    expect(q.text).toBe(prefix);
    expect(q.code).toBe(prefix);
    expect(q.apis).toEqual(expect.arrayContaining(['request.get_data', 'get_data', 'yaml', 'flask', 'request']));
    expect(q.cause).toBeUndefined();
    expect(q.language).toBe('python');
  });

  it('takes an instruction as it is', async () => {
    const prompt = 'Write a function that stores a user message in the database. # not a comment';
    const q = await offlineQuery({ language: 'python', prompt }, slicer);
    expect(q.text).toBe(prompt);
  });

  it('still answers for a language without a grammar: no API facet, the task as text', async () => {
    for (const language of ['php', 'csharp', 'rust', 'other']) {
      const q = await offlineQuery({ language, prompt: '<?php system($_GET["c"]); // run it' }, slicer);
      expect(q.apis).toEqual([]);
      expect(q.text).toBe('<?php system($_GET["c"]); // run it');
    }
  });
});
