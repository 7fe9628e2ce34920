import type { Language } from '@rescue/domain';
import { DEFAULT_LIMITS, ParserRegistry } from '@rescue/slicing';
import { type WalkCursor, directCursorAvailable, fastCursor } from '../src/wasm-cursor';

const SNIPPETS: [Language, string][] = [
  ['c', 'int f(char *a) {\n  /* copy */\n  if (!a) return -1;\n  x += g(a[1]);\n  return x;\n}\n'],
  ['python', 'def f(a, b=2):\n    """doc"""\n    for i in range(b):\n        a.x[i] += i  # note\n    return a\n'],
  ['javascript', 'const f = async (req, res) => {\n  try { res.send(`${req.q}`); } catch (e) { throw e; }\n};\n'],
  ['java', 'class A { int f(int n) { int s = 0; for (int i : xs) { s += i; } return s; } }\n'],
  ['ruby', 'def f(a)\n  a.each do |x|\n    puts x\n  end\nend\n'],
  // Unparsable input: ERROR nodes and MISSING tokens, and characters outside the BMP.
  ['go', 'func f() {\n  x := "😀" +\n  if {\n'],
];

/** Every node of a pre-order walk, as the statement walk reads it. */
function walk(cursor: WalkCursor): string[] {
  const seen: string[] = [];
  try {
    for (;;) {
      seen.push([cursor.nodeTypeId, cursor.currentFieldId, cursor.nodeId, cursor.startIndex, cursor.endIndex].join(' '));
      if (cursor.gotoFirstChild()) continue;
      while (!cursor.gotoNextSibling()) if (!cursor.gotoParent()) return seen;
    }
  } finally {
    cursor.delete();
  }
}

describe('fastCursor', () => {
  let registry: ParserRegistry;
  beforeAll(async () => {
    registry = await ParserRegistry.create();
  });

  it('calls the WebAssembly module directly under the pinned web-tree-sitter', () => {
    expect(directCursorAvailable()).toBe(true);
  });

  it.each(SNIPPETS)('walks a %s tree exactly as TreeCursor does', async (language, code) => {
    const tree = await registry.parse(language, code, DEFAULT_LIMITS);
    try {
      const expected = walk(tree.rootNode.walk());
      expect(expected.length).toBeGreaterThan(10);
      expect(walk(fastCursor(tree.rootNode.walk()))).toEqual(expected);
      // The node API still answers after a direct walk: the transfer buffer was left to it as it expects.
      expect(tree.rootNode.child(0)?.type).toBeDefined();
      expect(walk(tree.rootNode.walk())).toEqual(expected);
    } finally {
      tree.delete();
    }
  });

  it('frees a walk stopped half way (the statement walk stops at its depth and work limits)', async () => {
    const tree = await registry.parse('c', SNIPPETS[0][1], DEFAULT_LIMITS);
    try {
      const cursor = fastCursor(tree.rootNode.walk());
      cursor.gotoFirstChild();
      cursor.gotoFirstChild();
      const type = cursor.nodeTypeId;
      cursor.delete();
      expect(type).toBeGreaterThan(0);
      expect(walk(fastCursor(tree.rootNode.walk())).length).toBeGreaterThan(10);
    } finally {
      tree.delete();
    }
  });
});
