import type { Language } from '@rescue/domain';
import { DEFAULT_LIMITS, LANGUAGE_SPECS, type LanguageSpec, ParserRegistry, WorkMeter, buildDependenceGraph } from '@rescue/slicing';

// The statement walk keeps what it worked out about each node type in tables shared by every walk
// of a language, one per set of comment types a tree has: a graph must not depend on what was
// walked before it.
describe('buildDependenceGraph, type tables shared between walks', () => {
  let registry: ParserRegistry;
  beforeAll(async () => {
    registry = await ParserRegistry.create();
  });

  const graphOf = async (language: Language, code: string) => {
    const tree = await registry.parse(language, code, DEFAULT_LIMITS);
    try {
      const spec = LANGUAGE_SPECS[language] as LanguageSpec;
      const graph = buildDependenceGraph(tree, spec, await registry.queries(language), { meter: new WorkMeter(DEFAULT_LIMITS.workBudget, 60_000), maxDepth: 400 }, code);
      return { codeLines: [...graph.codeLines].sort((a, b) => a - b), owners: [...graph.lineOwner].sort((a, b) => a[0] - b[0]) };
    } finally {
      tree.delete();
    }
  };

  it.each<[Language, string, string]>([
    ['python', 'def f(a):\n    b = a + 1\n    return b\n', 'def g(a):\n    # why\n    b = a + 1  # note\n    return b\n'],
    ['java', 'class A { int f(int a) {\n  int b = a;\n  return b;\n} }\n', 'class A { int f(int a) {\n  // why\n  /* more */\n  int b = a;\n  return b;\n} }\n'],
  ])('gives a %s graph with comments the same lines after walks without comments as before them', async (language, plain, commented) => {
    const first = await graphOf(language, commented);
    expect(first.codeLines).not.toContain(2);
    await graphOf(language, plain);
    expect(await graphOf(language, commented)).toEqual(first);
    expect(await graphOf(language, plain)).toEqual(await graphOf(language, plain));
  });
});
