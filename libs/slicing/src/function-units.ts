import type { Node, Tree } from 'web-tree-sitter';
import type { LanguageSpec } from './language-specs';
import { type LanguageQueries, matchesInOrder } from './syntax-queries';
import type { WorkMeter } from './work-meter';

/** One definition of a source file, as `Slicer.functions` returns it. */
export interface FunctionUnit {
  /** The defined name (`show_user`, `Foo::bar`, `module.exports.run`), when the definition has one. */
  name?: string;
  /** 1-based, inclusive: the definition's lines, its leading comment not included. */
  startLine: number;
  endLine: number;
  /** The definition's whole lines, their common indentation removed. */
  code: string;
  /** The comment lines directly above the definition (no blank line between), dedented. */
  leadingComment?: string;
}

/** Fields naming what a definition (or the declaration holding it) defines, in order of preference. */
const NAME_FIELDS = ['name', 'property', 'key', 'left'];
const MAX_NAME_LENGTH = 200;

/**
 * The definitions of a file that are not nested in another definition: functions and methods
 * (those of classes included, as classes are not definitions here), and closures held by a
 * top-level statement (`const f = () => …`, `app.get('/', (req, res) => …)`). A definition
 * stands for the outermost node around it that sits directly in a container (a block, a class
 * body, the file), so that a decorator, an `export` or a `const` comes with it; several
 * closures under one statement are that one statement.
 */
export function extractFunctions(tree: Tree, spec: LanguageSpec, queries: LanguageQueries, code: string, maxNodes = 200_000, meter?: WorkMeter): FunctionUnit[] {
  const definitions = new Set([...spec.functionTypes, ...(spec.definitionTypes ?? [])]);
  // ERROR nodes are containers too: a definition after a syntax error is still its own unit.
  const containers = new Set([...spec.blockTypes, ...(spec.definitionContainers ?? []), 'ERROR']);
  const anchors = new Map<number, { anchor: Node; definition: Node }>();
  const root = tree.rootNode;
  const stack: Node[] = [root];
  for (let visited = 0; stack.length > 0 && visited < maxNodes; visited += 1) {
    const node = stack.pop() as Node;
    if (node.id !== root.id && definitions.has(node.type)) {
      const anchor = anchorOf(node, containers);
      if (!anchors.has(anchor.startIndex)) anchors.set(anchor.startIndex, { anchor, definition: node });
      continue;
    }
    for (let i = node.namedChildCount - 1; i >= 0; i -= 1) {
      const c = node.namedChild(i);
      if (c) stack.push(c);
    }
  }
  const lines = code.split('\n');
  const comments = commentsByEndRow(tree, queries, meter);
  return [...anchors.values()]
    .sort((a, b) => a.anchor.startIndex - b.anchor.startIndex)
    .map(({ anchor, definition }) => {
      const startRow = anchor.startPosition.row;
      // A node ending at column 0 ends with the line break before it.
      const endRow = anchor.endPosition.column === 0 && anchor.endPosition.row > startRow ? anchor.endPosition.row - 1 : anchor.endPosition.row;
      const unit: FunctionUnit = { startLine: startRow + 1, endLine: endRow + 1, code: dedent(lines.slice(startRow, endRow + 1)) };
      const name = nameBetween(definition, anchor);
      if (name) unit.name = name;
      const comment = leadingComment(startRow, comments, lines);
      if (comment) unit.leadingComment = comment;
      return unit;
    });
}

/** The ancestor of a definition that sits directly in a container. */
function anchorOf(definition: Node, containers: Set<string>): Node {
  let node = definition;
  for (let parent = node.parent; parent && !containers.has(parent.type); parent = node.parent) node = parent;
  return node;
}

/** The first name found from the definition up to its anchor (the function's own, else its variable's). */
function nameBetween(definition: Node, anchor: Node): string | undefined {
  for (let node: Node | null = definition; node; node = node.id === anchor.id ? null : node.parent) {
    const name = definedName(node);
    if (name) return name.replace(/\s+/g, ' ').slice(0, MAX_NAME_LENGTH);
  }
  return undefined;
}

function definedName(node: Node): string | undefined {
  // C declarators nest (`*f(int)` → f) and Python wraps decorated functions: follow them in.
  let inner = node;
  for (let next = wrapped(inner); next; next = wrapped(inner)) inner = next;
  if (inner !== node && (inner.namedChildCount === 0 || /(identifier|_name)$/.test(inner.type))) return inner.text;
  for (const field of NAME_FIELDS) {
    const child = inner.childForFieldName(field);
    if (child) return child.text;
  }
  return undefined;
}

const wrapped = (node: Node): Node | null => node.childForFieldName('declarator') ?? node.childForFieldName('definition');

/** Comments by the row they end on (the last one, where several end on a row), from the comments query. */
function commentsByEndRow(tree: Tree, queries: LanguageQueries, meter?: WorkMeter): Map<number, Node> {
  const byRow = new Map<number, Node>();
  for (const { node } of matchesInOrder(queries.comments, tree.rootNode, ['comment'], meter)) byRow.set(node.endPosition.row, node);
  return byRow;
}

/** Comments that each stand on their own lines, right above `row` and each other. */
function leadingComment(row: number, comments: Map<number, Node>, lines: string[]): string | undefined {
  let first = row;
  for (let c = comments.get(first - 1); c && (lines[c.startPosition.row] ?? '').slice(0, c.startPosition.column).trim() === ''; c = comments.get(first - 1)) {
    first = c.startPosition.row;
  }
  return first < row ? dedent(lines.slice(first, row)) : undefined;
}

/** Lines joined, the indentation all non-blank lines share removed (a method's, inside its class). */
function dedent(lines: string[]): string {
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^[ \t]*/.exec(l)?.[0] ?? '');
  let common = indents[0] ?? '';
  for (const indent of indents) while (!indent.startsWith(common)) common = common.slice(0, -1);
  return lines.map((l) => (l.startsWith(common) ? l.slice(common.length) : l.trimStart())).join('\n');
}
