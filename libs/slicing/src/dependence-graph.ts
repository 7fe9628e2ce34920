import type { Language as Grammar, Node, Tree } from 'web-tree-sitter';
import type { LanguageSpec } from './language-specs';
import { SliceFailure } from './slice-failure';
import { type LanguageQueries, matchesInOrder } from './syntax-queries';
import { fastCursor } from './wasm-cursor';
import type { WorkMeter } from './work-meter';

/** One node of the program dependence graph: a statement (or a clause, or the parse root). */
export interface StatementNode {
  id: number;
  type: string;
  parent: number;
  children: number[];
  /** 0-based rows of the whole statement, nested statements included. */
  startRow: number;
  endRow: number;
  /** 1-based code lines that belong to this statement and to none nested in it. */
  ownLines: number[];
  /** Variables this statement defines; `strong` ones replace earlier definitions. */
  defs: { name: string; strong: boolean }[];
  uses: string[];
  kind: 'root' | 'function' | 'loop' | 'try' | 'clause' | 'leave' | 'break' | 'continue' | 'plain';
  /**
   * The syntax node that bounds this statement's group of siblings (its parent, or a clause
   * itself), by its index in the statement walk's pre-order.
   */
  containerId: number;
  isClause: boolean;
  /** Whether an exit (return, throw, break, continue, goto) is inside, outside nested functions. */
  containsExit: boolean;
}

export interface DependenceGraph {
  statements: StatementNode[];
  /** Edges from a statement to those that depend on it (data or control). */
  forward: ReadonlySet<number>[];
  /** The same edges reversed, plus guard edges (below). */
  backward: ReadonlySet<number>[];
  /** 1-based line → the statement that owns it. */
  lineOwner: Map<number, number>;
  /** 1-based lines holding code (not blank, not only comments). */
  codeLines: Set<number>;
}

/** The comment nodes' ids, and their types: the walk asks a node its id only when its type is one of them. */
interface Comments {
  ids: Set<number>;
  types: Set<string>;
}

/**
 * Reaching definitions: for each variable, the statements whose definition may reach here. A set
 * in a state is never changed once the state is built: states share sets (copy on write), as most
 * joins and copies leave most variables as they were.
 */
type State = Map<string, ReadonlySet<number>>;

const BODY_FIELDS = new Set(['body', 'consequence', 'alternative']);
/** Fields that hold expressions read, never targets written, on the way up from an identifier. */
const USE_FIELDS = new Set(['size', 'right', 'arguments', 'argument_list', 'index', 'subscript', 'condition', 'default_value', 'type', 'body', 'function', 'return_type', 'operand_index']);
/** For each access type, the field that holds the object being written through. */
const ACCESS_BASE_FIELDS = new Set(['object', 'argument', 'value', 'operand', 'array', 'receiver']);
const ELSE_CLAUSE = /^else(_clause)?$/;
const STATEMENTISH = /(statement|declaration|definition|^expression|assignment|^call$|^return$)/;

interface Budget {
  /** Charged with every syntax node walked and every data-flow step: the work of the function. */
  meter: WorkMeter;
  maxDepth: number;
}

/**
 * Builds the intra-procedural program dependence graph of a parsed function: statements as nodes;
 * data edges from reaching definitions computed over the structured control flow (branches join,
 * loops iterate to a fixed point, break and continue carry their state to the loop's exit and head,
 * return and throw end a path, a try handler may start after any protected statement); control
 * edges from each statement's nearest enclosing statement (function entries excepted), and from a
 * statement holding an early exit to the statements after it in the same block.
 *
 * Each pass below reads what the ones before it built, in this order. `source` is the text the
 * tree was parsed from.
 */
export function buildDependenceGraph(tree: Tree, spec: LanguageSpec, queries: LanguageQueries, budget: Budget, source: string): DependenceGraph {
  const kinds = nodeKinds(spec);
  const comments = commentIds(tree, queries, budget);
  const walked = walkStatements(tree.rootNode, source, kinds, comments, budget);
  const lineOwner = assignOwnLines(walked.statements, walked.codeLines, budget.meter);
  collectDefsAndUses(walked, kinds, spec);
  const edges = new Edges(walked.statements.length);
  addEnclosingControlEdges(walked.statements, walked.viaFunctionOf, edges);
  new ReachingDefinitions(walked.statements, edges, budget.meter).run();
  return { statements: walked.statements, forward: edges.forward, backward: edges.backward, lineOwner, codeLines: walked.codeLines };
}

/** The spec's node-type lists as sets, looked up once per syntax node. */
interface NodeKinds {
  block: Set<string>;
  clause: Set<string>;
  loop: Set<string>;
  tryT: Set<string>;
  fn: Set<string>;
  leave: Set<string>;
  brk: Set<string>;
  cont: Set<string>;
  ident: Set<string>;
  access: Set<string>;
  /** Where definitions happen (the spec's `definitions`). */
  defSite: Set<string>;
  /** Per parent type, the fields naming something other than a variable. */
  nonVar: Map<string, Set<string>>;
}

/** The sets of each spec, built once: every function sliced would otherwise build eleven sets. */
const kindsOfSpec = new WeakMap<LanguageSpec, NodeKinds>();

function nodeKinds(spec: LanguageSpec): NodeKinds {
  let kinds = kindsOfSpec.get(spec);
  if (!kinds) kindsOfSpec.set(spec, (kinds = buildNodeKinds(spec)));
  return kinds;
}

function buildNodeKinds(spec: LanguageSpec): NodeKinds {
  return {
    // Tree-sitter wraps what it cannot parse (macros, fragments) in ERROR nodes; reading them as
    // blocks keeps the statements inside them separate instead of one statement of many lines.
    block: new Set([...spec.blockTypes, 'ERROR']),
    clause: new Set(spec.clauseTypes),
    loop: new Set(spec.loopTypes),
    tryT: new Set(spec.tryTypes),
    fn: new Set(spec.functionTypes),
    leave: new Set(spec.exits.leave),
    brk: new Set(spec.exits.breakLoop),
    cont: new Set(spec.exits.continueLoop),
    ident: new Set(spec.identifierTypes),
    access: new Set(spec.accessTypes),
    defSite: new Set(spec.definitions.map((d) => d.type)),
    nonVar: spec.nonVariableFields.reduce((m, [t, f]) => m.set(t, (m.get(t) ?? new Set<string>()).add(f)), new Map<string, Set<string>>()),
  };
}

/**
 * Pass 0: the comments, found by the language's comments query. A comment is neither a statement
 * nor code: the statement walk skips it, so a line holding only a comment is never a code line.
 */
function commentIds(tree: Tree, queries: LanguageQueries, budget: Budget): Comments {
  const nodes = matchesInOrder(queries.comments, tree.rootNode, ['comment'], budget.meter).map(({ node }) => node);
  return { ids: new Set(nodes.map((n) => n.id)), types: new Set(nodes.map((n) => n.type)) };
}

function kindOf(type: string, kinds: NodeKinds): StatementNode['kind'] {
  if (kinds.fn.has(type)) return 'function';
  if (kinds.loop.has(type)) return 'loop';
  if (kinds.tryT.has(type)) return 'try';
  if (kinds.leave.has(type)) return 'leave';
  if (kinds.brk.has(type)) return 'break';
  if (kinds.cont.has(type)) return 'continue';
  if (kinds.clause.has(type)) return 'clause';
  return 'plain';
}

/**
 * Whether a syntax node is a statement of the graph: a clause; a child of a block (its condition
 * or value excepted); the body of a statement; or a statement-like node directly in a clause.
 * Only named nodes are statements: the caller checks that last.
 */
function isStatement(kind: number, parentKind: number, field: string | null, parentIsStatement: boolean): boolean {
  if (kind & BLOCK) return false;
  if (kind & CLAUSE) return true;
  if (parentKind & BLOCK) return field !== 'condition' && field !== 'value';
  if (field && BODY_FIELDS.has(field) && parentIsStatement && !(parentKind & FUNCTION)) return true;
  if (parentKind & CLAUSE && !(field && (USE_FIELDS.has(field) || field === 'value' || field === 'parameter')) && kind & STATEMENT_LIKE) return true;
  return false;
}

/** What the statement walk asks of a node type, as bits: one lookup per syntax node instead of a set or a pattern each. */
const BLOCK = 1;
const CLAUSE = 2;
const FUNCTION = 4;
const IDENTIFIER = 8;
const ACCESS = 16;
const STATEMENT_LIKE = 32;
const COMMENT = 64;
const DEF_SITE = 128;
/** Set beside a type's bits in the walk's table, not by {@link typeBits}. */
const NAMED = 256;

/** The bits of a node type (the comment types are the tree's). */
function typeBits(type: string, kinds: NodeKinds, comments: Comments): number {
  return (
    (kinds.block.has(type) ? BLOCK : 0) |
    (kinds.clause.has(type) ? CLAUSE : 0) |
    (kinds.fn.has(type) ? FUNCTION : 0) |
    (kinds.ident.has(type) ? IDENTIFIER : 0) |
    (kinds.access.has(type) ? ACCESS : 0) |
    (STATEMENTISH.test(type) ? STATEMENT_LIKE : 0) |
    (comments.types.has(type) ? COMMENT : 0) |
    (kinds.defSite.has(type) ? DEF_SITE : 0)
  );
}

/**
 * Whether the walk needs a node's field while at the node: for an identifier (pass 3 starts from
 * it), under a definition site (its `operator`), and where the field decides whether a named
 * node is a statement ({@link isStatement}; elsewhere the answer is the same without it). Any
 * other node's field is read only if it has children (pass 3 climbs through those), when the walk
 * leaves it: the field is one WebAssembly call, and most nodes are leaves that need none.
 */
function fieldNeeded(kind: number, named: boolean, parentKind: number, parentIsStatement: boolean): boolean {
  if (kind & IDENTIFIER || parentKind & DEF_SITE) return true;
  if (!named || kind & (BLOCK | CLAUSE)) return false;
  return (parentKind & BLOCK) !== 0 || (parentIsStatement && !(parentKind & FUNCTION)) || (parentKind & CLAUSE && kind & STATEMENT_LIKE) !== 0;
}

/**
 * The syntax nodes the statement walk (pass 1) visited, by visit (pre-order) index; index 0 is the
 * root. Pass 3 climbs from identifiers through these instead of through tree-sitter nodes: every
 * property of a web-tree-sitter node is a call into WebAssembly, which made the walk and the climbs
 * most of the slicer's time.
 */
interface SyntaxNodes {
  types: string[];
  /** The field the node sits in within its parent, or null (for a leaf: only where pass 1 or 3 needs it, see {@link fieldNeeded}). */
  fields: (string | null)[];
  parents: number[];
  /** The index of the first named child, for nodes of the language's access types (else -1). */
  firstNamed: number[];
  /** The text of the child in the `operator` field, where a definition site has one. */
  operators: Map<number, string>;
}

/** What the statement walk (pass 1) gathers for the passes after it. */
interface WalkedStatements {
  statements: StatementNode[];
  /** The syntax-node index of each statement. */
  nodeIndexOf: number[];
  /** Whether a function node lies between a statement and the statement owning it. */
  viaFunctionOf: boolean[];
  /** Every identifier (its syntax-node index and text), with the statement that owns it, as three parallel arrays (no object each). */
  identifiers: { index: number[]; text: string[]; owner: number[] };
  codeLines: Set<number>;
  syntax: SyntaxNodes;
}

/** The walk's context for the children of one syntax node. */
interface Frame {
  index: number;
  type: string;
  depth: number;
  /** The statement that owns the children, and whether this node is that statement. */
  owner: number;
  ownerIsStatementNode: boolean;
  /** A function node lies between the children and their owning statement. */
  childVia: boolean;
  /** The row the node lies on, when it is known to lie on one (a one-line statement, or inside one); else -1. */
  row: number;
  /** The node type's bits ({@link typeBits}). */
  kind: number;
  /** The node's field is still to be read (when the walk leaves it). */
  fieldPending: boolean;
}

/**
 * Pass 1: the statement tree, code lines, and each identifier's owning statement, in one pre-order
 * walk of the syntax tree with a tree cursor (one WebAssembly call per move and per property,
 * where a node costs several). Iterative, with a depth limit, so a hostile nesting cannot
 * overflow the stack.
 */
function walkStatements(root: Node, source: string, kinds: NodeKinds, comments: Comments, budget: Budget): WalkedStatements {
  const rootType = root.type;
  const syntax: SyntaxNodes = { types: [rootType], fields: [null], parents: [-1], firstNamed: [-1], operators: new Map() };
  const walked: WalkedStatements = { statements: [], nodeIndexOf: [0], viaFunctionOf: [false], identifiers: { index: [], text: [], owner: [] }, codeLines: new Set(), syntax };
  const { statements, codeLines, identifiers } = walked;
  const { types, fields, parents, firstNamed, operators } = syntax;
  statements.push({
    id: 0,
    type: rootType,
    parent: -1,
    children: [],
    startRow: root.startPosition.row,
    endRow: root.endPosition.row,
    ownLines: [],
    defs: [],
    uses: [],
    kind: 'root',
    containerId: -1,
    isClause: false,
    containsExit: false,
  });
  const typeNames = root.tree.language.types;
  const fieldNames = root.tree.language.fields;
  const isNamed = namedTypeTest(root.tree.language);
  // Each node type's bits and whether it is named, by type slot, worked out on first sight by
  // any walk (typed, as ERROR's id 65535 would make a plain array a slow sparse one).
  const typeCount = root.tree.language.nodeTypeCount;
  const bitsOfType = bitsTable(root.tree.language, kinds, comments);
  // `childVia`: a function node lies between a node and its owning statement (an exported
  // function, an arrow function in a declaration, a decorated definition, a callback argument).
  // The frames of the nodes from the root down to the current one's parent: `frames[top]` is the
  // parent's. A frame is reused by the next node at its depth, not allocated per node with children.
  const frames: Frame[] = [{ index: 0, type: rootType, depth: 0, owner: 0, ownerIsStatementNode: true, childVia: false, row: -1, kind: typeBits(rootType, kinds, comments), fieldPending: false }];
  let top = 0;
  const rowOf = rowFinder(source);
  // The end of the last leaf seen: the next leaf starts at or after it (tokens do not overlap).
  let lastEnd = -1;
  let lastCodeLine = -1;
  const cursor = fastCursor(root.walk());
  try {
    if (!cursor.gotoFirstChild()) return walked;
    for (;;) {
      const frame = frames[top];
      const index = types.length;
      const typeId = cursor.nodeTypeId;
      const type = typeNames[typeId] || 'ERROR';
      const slot = typeSlot(typeId, typeCount);
      let bits = slot < 0 ? -1 : bitsOfType[slot];
      if (bits < 0) {
        bits = typeBits(type, kinds, comments) | (isNamed(typeId) ? NAMED : 0);
        if (slot >= 0) bitsOfType[slot] = bits;
      }
      const kind = bits;
      const named = (bits & NAMED) !== 0;
      const fieldNow = fieldNeeded(kind, named, frame.kind, frame.ownerIsStatementNode);
      const field = fieldNow ? (fieldNames[cursor.currentFieldId] ?? null) : null;
      types.push(type);
      fields.push(field);
      parents.push(frame.index);
      firstNamed.push(-1);
      if (firstNamed[frame.index] === -1 && frame.kind & ACCESS && named) firstNamed[frame.index] = index;
      if (field === 'operator' && frame.kind & DEF_SITE && !operators.has(frame.index)) operators.set(frame.index, source.slice(cursor.startIndex, cursor.endIndex));
      const depth = frame.depth + 1;
      if (depth > budget.maxDepth) throw new SliceFailure('too_deep', `syntax nesting deeper than ${budget.maxDepth} levels`);
      budget.meter.spend(1);
      if (!(kind & COMMENT && comments.ids.has(cursor.nodeId))) {
        let current = frame.owner;
        let currentIsStatementNode = false;
        const statement = isStatement(kind, frame.kind, field, frame.ownerIsStatementNode) && named;
        let startRow = -1;
        let endRow = -1;
        let start = -1;
        let end = -1;
        if (statement) {
          // Rows from indices, as for leaves: a position costs an object and two more reads of WebAssembly memory.
          start = cursor.startIndex;
          end = cursor.endIndex;
          startRow = rowOf(start);
          endRow = rowOf(end);
          current = addStatement(walked, index, type, frame, startRow, endRow, kinds);
          currentIsStatementNode = true;
        }
        // Text is read from the source by index: tree-sitter's text of a node costs several calls.
        if (kind & IDENTIFIER) {
          if (start < 0) start = cursor.startIndex;
          if (end < 0) end = cursor.endIndex;
          identifiers.index.push(index);
          identifiers.text.push(source.slice(start, end));
          identifiers.owner.push(current);
        }
        if (cursor.gotoFirstChild()) {
          const childVia = currentIsStatementNode ? (kind & FUNCTION) !== 0 : frame.childVia || (kind & FUNCTION) !== 0;
          const row = frame.row >= 0 ? frame.row : statement && startRow === endRow ? startRow : -1;
          top += 1;
          const next = frames[top];
          if (next === undefined) frames.push({ index, type, depth, owner: current, ownerIsStatementNode: currentIsStatementNode, childVia, row, kind, fieldPending: !fieldNow });
          else {
            next.index = index;
            next.type = type;
            next.depth = depth;
            next.owner = current;
            next.ownerIsStatementNode = currentIsStatementNode;
            next.childVia = childVia;
            next.row = row;
            next.kind = kind;
            next.fieldPending = !fieldNow;
          }
          continue;
        }
        if (!statement && start < 0 && frame.row >= 0) {
          // A leaf inside a one-line node lies on that line: its indices need not be asked for.
          // (The last leaf end seen stays a lower bound of the next leaf's start.)
          startRow = frame.row;
          endRow = frame.row;
        } else if (!statement) {
          // A leaf: its rows from its indices. Most tokens end on the row where the one before
          // them ended, and then start there too, so their start need not be asked for.
          if (end < 0) end = cursor.endIndex;
          endRow = rowOf(end);
          if (start < 0 && lastEnd >= 0 && rowOf(lastEnd) === endRow) startRow = endRow;
          else startRow = rowOf(start < 0 ? cursor.startIndex : start);
          lastEnd = end;
        }
        // Most leaves are on the line the one before them was on: that line is in the set already.
        for (let r = startRow; r <= endRow; r += 1)
          if (r + 1 !== lastCodeLine) {
            codeLines.add(r + 1);
            lastCodeLine = r + 1;
          }
      }
      while (!cursor.gotoNextSibling()) {
        if (top === 0) return walked;
        cursor.gotoParent();
        const left = frames[top];
        top -= 1;
        if (left.fieldPending) fields[left.index] = fieldNames[cursor.currentFieldId] ?? null;
      }
    }
  } finally {
    cursor.delete();
  }
}

/** Tree-sitter's type id of ERROR nodes, past the grammar's own types. */
const ERROR_TYPE_ID = 0xffff;

/**
 * The slot of a type id in a table of the grammar's types (ERROR's after them); -1 for any other
 * id past them, which is looked up without a table.
 */
const typeSlot = (typeId: number, typeCount: number): number => (typeId < typeCount ? typeId : typeId === ERROR_TYPE_ID ? typeCount : -1);

/** Per spec (its kinds), grammar and set of comment types, the table of type bits the walks have worked out so far. */
const bitTables = new WeakMap<NodeKinds, WeakMap<Grammar, Map<string, Int32Array>>>();

/**
 * The table of type bits (and NAMED) by {@link typeSlot}, -1 where not worked out yet. A type's
 * bits depend on the spec, the grammar and the tree's comment types only, so walks share a table
 * (a tree's comment types are few: most share one) instead of each making its own.
 */
function bitsTable(grammar: Grammar, kinds: NodeKinds, comments: Comments): Int32Array {
  let byGrammar = bitTables.get(kinds);
  if (!byGrammar) bitTables.set(kinds, (byGrammar = new WeakMap()));
  let byComments = byGrammar.get(grammar);
  if (!byComments) byGrammar.set(grammar, (byComments = new Map()));
  const key = [...comments.types].sort().join('\n');
  let table = byComments.get(key);
  if (!table) byComments.set(key, (table = new Int32Array(grammar.nodeTypeCount + 1).fill(-1)));
  return table;
}

/** Per grammar, whether each node type is named (by {@link typeSlot}; 0: not asked yet, 1: no, 2: yes). */
const namedTypesOf = new WeakMap<Grammar, Uint8Array>();

/**
 * Whether a node of a type is named. A node is named when its type is (tree-sitter gives an alias
 * its own type id), so the grammar answers once per type instead of the cursor once per node, each
 * a WebAssembly call.
 */
function namedTypeTest(grammar: Grammar): (typeId: number) => boolean {
  const typeCount = grammar.nodeTypeCount;
  let known = namedTypesOf.get(grammar);
  if (!known) namedTypesOf.set(grammar, (known = new Uint8Array(typeCount + 1)));
  const table = known;
  return (typeId) => {
    const slot = typeSlot(typeId, typeCount);
    if (slot < 0) return grammar.nodeTypeIsNamed(typeId);
    if (table[slot] === 0) table[slot] = grammar.nodeTypeIsNamed(typeId) ? 2 : 1;
    return table[slot] === 2;
  };
}

/**
 * The 0-based row of a position in `source` (an index in UTF-16 code units, as web-tree-sitter
 * gives them): tree-sitter starts a row after each line feed, and so does this.
 */
function rowFinder(source: string): (index: number) => number {
  const starts = [0];
  for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) starts.push(i + 1);
  // The walk asks in source order, mostly on the row it asked last: that row is tried first.
  let last = 0;
  return (index) => {
    if (starts[last] <= index && (last + 1 === starts.length || index < starts[last + 1])) return last;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    last = lo;
    return lo;
  };
}

/** Adds a statement under its owner (the frame's); returns its id. */
function addStatement(walked: WalkedStatements, index: number, type: string, frame: Frame, startRow: number, endRow: number, kinds: NodeKinds): number {
  const { statements } = walked;
  const owner = frame.owner;
  const id = statements.length;
  const kind = kindOf(type, kinds);
  const isClause = kinds.clause.has(type);
  statements.push({
    id,
    type,
    parent: owner,
    children: [],
    startRow,
    endRow,
    ownLines: [],
    defs: [],
    uses: [],
    kind,
    containerId: isClause ? index : frame.index,
    isClause,
    containsExit: false,
  });
  walked.nodeIndexOf.push(index);
  walked.viaFunctionOf.push(frame.childVia);
  statements[owner].children.push(id);
  if (kind === 'leave' || kind === 'break' || kind === 'continue') markEnclosingExits(statements, owner, kind);
  return id;
}

/**
 * An exit guards what follows the statements around it: return/throw everything after them in
 * the function; break/continue only inside the loop (or switch) they leave.
 */
function markEnclosingExits(statements: StatementNode[], owner: number, kind: 'leave' | 'break' | 'continue'): void {
  for (let s = owner; s > 0 && statements[s].kind !== 'function'; s = statements[s].parent) {
    if (kind !== 'leave' && (statements[s].kind === 'loop' || /switch/.test(statements[s].type))) break;
    statements[s].containsExit = true;
  }
}

/**
 * Pass 2: each statement's own lines, the code lines it spans that no nested statement covers,
 * and the owner of each line. A slice is made of lines, so this is how statements become lines.
 * Each statement's span is charged twice (nested blocks make the spans add up to lines × depth).
 */
function assignOwnLines(statements: StatementNode[], codeLines: Set<number>, meter: WorkMeter): Map<number, number> {
  let lastRow = 0;
  let charge = 0;
  for (const s of statements) if (s.id !== 0) charge += 2 * (s.endRow - s.startRow + 1);
  // At once within the budget; past it, statement by statement, so the work stops at the same step.
  if (charge <= meter.remaining) meter.spend(charge);
  else
    for (const s of statements) {
      if (s.id === 0) continue;
      meter.spend(2 * (s.endRow - s.startRow + 1));
    }
  for (const s of statements) lastRow = Math.max(lastRow, s.endRow);
  // The code lines as a table, looked up once per line of every statement's span.
  const isCode = new Uint8Array(lastRow + 2);
  for (const line of codeLines) if (line < isCode.length) isCode[line] = 1;
  // coveredBy[line] is the last statement one of whose nested statements spans the line: a stamp
  // per statement instead of a set of lines per statement.
  const coveredBy = new Int32Array(lastRow + 2).fill(-1);
  const lineOwner = new Map<number, number>();
  for (const s of statements) {
    for (const c of s.children) {
      const child = statements[c];
      for (let r = child.startRow; r <= child.endRow; r += 1) coveredBy[r + 1] = s.id;
    }
    for (let line = s.startRow + 1; line <= s.endRow + 1; line += 1) {
      if (isCode[line] === 1 && coveredBy[line] !== s.id) {
        s.ownLines.push(line);
        lineOwner.set(line, s.id);
      }
    }
  }
  return lineOwner;
}

/**
 * Pass 3: the definitions and uses of each statement, the input of the data edges. An identifier
 * is a use unless the climb from it to its statement finds it written ({@link roleOf}).
 */
function collectDefsAndUses(walked: WalkedStatements, kinds: NodeKinds, spec: LanguageSpec): void {
  const defSites = new Map(spec.definitions.map((d) => [d.type, d]));
  const paramFields = new Set(spec.parameterFields);
  const { index: indices, text: names, owner: owners } = walked.identifiers;
  for (let i = 0; i < indices.length; i += 1) {
    const index = indices[i];
    const name = names[i];
    const owner = owners[i];
    const role = roleOf(index, owner, walked, kinds, defSites, paramFields);
    if (role === undefined) continue;
    const s = walked.statements[owner];
    if (role === 'use') s.uses.push(name);
    else if (role === 'def') s.defs.push({ name, strong: true });
    else {
      s.defs.push({ name, strong: false });
      s.uses.push(name);
    }
  }
}

/**
 * Whether an identifier is read, written (strongly: it replaces earlier definitions; weakly:
 * written through a member or subscript, which updates its base) or both; undefined when it names
 * no variable (a field, a keyword argument, a function's own name). Decided by climbing from the
 * identifier (a syntax-node index of the walk) to the statement that owns it.
 */
function roleOf(
  index: number,
  owner: number,
  walked: WalkedStatements,
  kinds: NodeKinds,
  defSites: Map<string, LanguageSpec['definitions'][number]>,
  paramFields: Set<string>,
): 'use' | 'def' | 'weak' | 'both' | undefined {
  const { types, fields, parents, firstNamed, operators } = walked.syntax;
  const field0 = fields[index];
  const parent0 = parents[index];
  // String(null) as the field: the pairs were once looked up as `type.field` strings.
  if (parent0 >= 0 && kinds.nonVar.get(types[parent0])?.has(String(field0))) return undefined;
  if (parent0 >= 0 && kinds.fn.has(types[parent0]) && field0 === 'name') return undefined;
  let role: 'use' | 'def' | 'weak' | 'both' = 'use';
  let throughAccess = false;
  let child = index;
  let field = field0;
  const ownerIndex = walked.nodeIndexOf[owner];
  const stopAt = owner === 0 ? -1 : parents[ownerIndex];
  for (let anc = parent0; anc >= 0 && anc !== stopAt; anc = parents[anc]) {
    const type = types[anc];
    const site = defSites.get(type);
    if (site) {
      if (site.fields.length === 0 || (field !== null && site.fields.includes(field))) {
        // `x += 1` is `assignment_expression` with an operator in C, C++, Java and Go: it reads x too.
        const op = operators.get(anc);
        const compound = op !== undefined && op !== '=' && op !== ':=';
        role = throughAccess ? 'weak' : site.alsoUse || compound ? 'both' : 'def';
      }
      break;
    }
    if (kinds.fn.has(type)) {
      if (field !== null && paramFields.has(field)) role = 'def';
      break;
    }
    if (kinds.access.has(type)) {
      if (field !== null && ACCESS_BASE_FIELDS.has(field) && child === firstNamed[anc]) throughAccess = true;
      else break;
    } else if (field !== null && USE_FIELDS.has(field)) {
      break;
    }
    if (anc === ownerIndex) break;
    child = anc;
    field = fields[anc];
  }
  return role;
}

/** The graph's edges, both ways: slicing follows them backward and forward. */
class Edges {
  readonly forward: ReadonlySet<number>[];
  readonly backward: ReadonlySet<number>[];

  constructor(count: number) {
    // Most statements have few or no edges one way: each starts with one shared empty set.
    this.forward = new Array<ReadonlySet<number>>(count).fill(NO_EDGES);
    this.backward = new Array<ReadonlySet<number>>(count).fill(NO_EDGES);
  }

  add(from: number, to: number): void {
    if (from === to) return;
    setAt(this.forward, from).add(to);
    setAt(this.backward, to).add(from);
  }

  /** A backward-only edge: followed from `to` back to `from`, never the other way. */
  addBackward(from: number, to: number): void {
    setAt(this.backward, to).add(from);
  }
}

const NO_EDGES: ReadonlySet<number> = new Set();

/** The edge set at `i`, made on the first edge added to it. */
function setAt(sets: ReadonlySet<number>[], i: number): Set<number> {
  let set = sets[i];
  if (set === NO_EDGES) sets[i] = set = new Set<number>();
  return set as Set<number>;
}

/**
 * Pass 4: control edges from each statement's enclosing statement. Entering a function is not a
 * control decision, so a function (or a statement that only wraps one) starts no control dependence.
 */
function addEnclosingControlEdges(statements: StatementNode[], viaFunctionOf: boolean[], edges: Edges): void {
  for (const s of statements) {
    if (s.parent > 0 && statements[s.parent].kind !== 'function' && !viaFunctionOf[s.id]) edges.add(s.parent, s.id);
  }
}

/**
 * The join of states; `meter` is charged one step per definition copied, the work of the join
 * (charged as if every set were copied, though a set only one state holds is shared, not copied).
 */
function union(meter: WorkMeter, ...states: (State | undefined)[]): State {
  let out: State | undefined;
  // The sets this join made, which it may still add to; any other set belongs to an input state.
  let made: Set<Set<number>> | undefined;
  const joined = states.length > 8 ? new Set<State | undefined>() : undefined;
  for (let i = 0; i < states.length; i += 1) {
    const st = states[i];
    if (!st) continue;
    if (!out) {
      // The first state is taken whole (entry by entry, the join would only add each of its sets).
      out = copyCharged(st, meter);
      joined?.add(st);
      continue;
    }
    // A state joined already (branches that left their state as it was hand back the same one)
    // adds nothing: only its charge is made. (A try's join takes a state per statement of its
    // body: past a few inputs they are looked up in a set, not searched.)
    if (joined ? joined.has(st) : states.indexOf(st) < i) {
      chargeCopy(st, meter);
      continue;
    }
    joined?.add(st);
    for (const [k, v] of st) {
      meter.spend(v.size);
      const cur = out.get(k);
      if (!cur) out.set(k, v);
      else if (cur !== v) {
        let own = cur as Set<number>;
        if (!made?.has(own)) {
          own = copySet(cur);
          (made ??= new Set()).add(own);
          out.set(k, own);
        }
        for (const d of v) own.add(d);
      }
    }
  }
  return out ?? new Map();
}

/**
 * A copy of a state sharing its sets, charged one step per definition as a join is. Within the
 * budget the charge is made at once; past it, set by set as a join does, so the work stops at the
 * same step. Copied entry by entry: `new Map(map)` took about 1.5× as long in V8 (Node 20).
 */
function copyCharged(state: State, meter: WorkMeter): State {
  const out: State = new Map();
  let size = 0;
  for (const [k, v] of state) {
    size += v.size;
    out.set(k, v);
  }
  if (size <= meter.remaining) meter.spend(size);
  else for (const v of state.values()) meter.spend(v.size);
  return out;
}

/** The charge of {@link copyCharged} without the copy, for a state its holder may change in place. */
function chargeCopy(state: State, meter: WorkMeter): void {
  let size = 0;
  for (const v of state.values()) size += v.size;
  if (size <= meter.remaining) meter.spend(size);
  else for (const v of state.values()) meter.spend(v.size);
}

/** A set's copy, element by element: `new Set(set)` took over twice as long in V8 (Node 20). */
function copySet(set: ReadonlySet<number> | undefined): Set<number> {
  const out = new Set<number>();
  if (set) for (const d of set) out.add(d);
  return out;
}

function sameState(a: State, b: State): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.size !== v.size) return false;
    for (const d of v) if (!w.has(d)) return false;
  }
  return true;
}

/** Where break and continue send their state: the loop's exit and its head. */
interface LoopCtx {
  breaks: State[];
  continues: State[];
}
/** The states a try's handlers may start from: after any statement of the protected body. */
interface TryCtx {
  seen: State[];
}

/**
 * Pass 5: data edges from reaching definitions over the structured control flow, plus guard edges
 * from early exits to the statements after them (in `sequence`). The walk follows the statement
 * tree, carrying the state (which statements' definitions may reach here) along each path.
 */
class ReachingDefinitions {
  constructor(
    private readonly statements: StatementNode[],
    private readonly edges: Edges,
    private readonly meter: WorkMeter,
  ) {}

  private union(...states: (State | undefined)[]): State {
    return union(this.meter, ...states);
  }

  run(): void {
    this.statement(this.statements[0], new Map(), false, undefined, []);
  }

  /** The statements of one block, in order. */
  private sequence(ids: number[], state: State, loop: LoopCtx | undefined, tries: TryCtx[]): State {
    let cur = state;
    // Whether `cur` is this sequence's alone, to change in place: a state a statement returns is
    // new (its own copy, a join, an empty state) unless it is the one it was given, and it is
    // shared once an enclosing try keeps it. The state the sequence starts from is its caller's.
    let owned = false;
    const guards: number[] = [];
    for (const id of ids) {
      // A statement after an early-exit guard (`if (n < 3) return -1;`) runs only when the guard
      // lets it. The edge is followed backward only: a slice reaching the statement shows its
      // guard, but a changed guard does not pull in the rest of the function.
      for (const g of guards) if (g !== id) this.edges.addBackward(g, id);
      const next = this.statement(this.statements[id], cur, owned, loop, tries);
      if (next !== cur) owned = true;
      cur = next;
      if (tries.length > 0) {
        for (const t of tries) t.seen.push(cur);
        owned = false;
      }
      const kind = this.statements[id].kind;
      if (this.statements[id].containsExit || kind === 'leave' || kind === 'break' || kind === 'continue') guards.push(id);
    }
    return cur;
  }

  /** `owned`: the caller holds `state` alone, and the statement may change it in place. */
  private statement(s: StatementNode, state: State, owned: boolean, loop: LoopCtx | undefined, tries: TryCtx[]): State {
    this.meter.spend(1);
    const afterOwn = this.applyOwn(s, state, owned);
    if (s.kind === 'leave') return new Map();
    if (s.kind === 'break') {
      loop?.breaks.push(afterOwn);
      return new Map();
    }
    if (s.kind === 'continue') {
      loop?.continues.push(afterOwn);
      return new Map();
    }
    const groups = this.groupsOf(s);
    if (groups.length === 0) return afterOwn;
    if (s.kind === 'loop') return this.loop(s, groups, afterOwn, tries);
    if (s.kind === 'try') return this.tryStatement(groups, afterOwn, loop, tries);
    return this.branches(s, groups, afterOwn, loop, tries);
  }

  /** Uses read the reaching definitions; definitions replace (strong) or join (weak) them. */
  private applyOwn(s: StatementNode, state: State, owned: boolean): State {
    for (const u of s.uses) {
      const reaching = state.get(u);
      if (!reaching) continue;
      this.meter.spend(reaching.size);
      for (const d of reaching) this.edges.add(d, s.id);
    }
    if (s.defs.length === 0) return state;
    // The join of this one state: a copy sharing every set, charged as the join is (a state
    // nobody else holds is changed in place, charged the same). Sets are never changed in place.
    let out = state;
    if (owned) chargeCopy(state, this.meter);
    else out = copyCharged(state, this.meter);
    for (const d of s.defs) {
      if (d.strong) out.set(d.name, new Set([s.id]));
      else out.set(d.name, copySet(out.get(d.name)).add(s.id));
    }
    return out;
  }

  /** A statement's children by the block they sit in (a clause is a group of its own). */
  private groupsOf(s: StatementNode): number[][] {
    const groups = new Map<number, number[]>();
    for (const c of s.children) {
      const child = this.statements[c];
      const key = child.isClause ? -(c + 1) : child.containerId;
      const g = groups.get(key);
      if (g) g.push(c);
      else groups.set(key, [c]);
    }
    return [...groups.values()];
  }

  /** A loop body runs again with what it wrote: iterate to a fixed point (at most 4 rounds). */
  private loop(s: StatementNode, groups: number[][], afterOwn: State, tries: TryCtx[]): State {
    const ctx: LoopCtx = { breaks: [], continues: [] };
    let head = afterOwn;
    for (let i = 0; i < 4; i += 1) {
      const ends = groups.map((g) => this.sequence(g, head, ctx, tries));
      const next = this.union(head, ...ends, ...ctx.continues);
      // A loop header reads what the previous iteration wrote.
      for (const u of s.uses) {
        const reaching = next.get(u);
        if (!reaching) continue;
        this.meter.spend(reaching.size);
        for (const d of reaching) this.edges.add(d, s.id);
      }
      if (sameState(next, head)) break;
      head = next;
    }
    return this.union(head, ...ctx.breaks);
  }

  /** A handler may start after any statement of the protected body (or before the first). */
  private tryStatement(groups: number[][], afterOwn: State, loop: LoopCtx | undefined, tries: TryCtx[]): State {
    const [body, ...handlers] = groups;
    const ctx: TryCtx = { seen: [afterOwn] };
    const bodyOut = this.sequence(body, afterOwn, loop, [...tries, ctx]);
    const handlerIn = this.union(...ctx.seen, bodyOut);
    const outs = handlers.map((h) => this.sequence(h, handlerIn, loop, tries));
    return this.union(bodyOut, ...outs);
  }

  /** Branches (and a plain statement's nested blocks) start from the same state and join after. */
  private branches(s: StatementNode, groups: number[][], afterOwn: State, loop: LoopCtx | undefined, tries: TryCtx[]): State {
    const outs = groups.map((g) => this.sequence(g, afterOwn, loop, tries));
    // With an else branch one of the branches always runs, so what they all redefine is killed.
    // A clause (else, elif, case, catch) runs its body after its header: the body's end is its end.
    const exhaustive = (s.kind === 'clause' && groups.length === 1) || (groups.length >= 2 && s.children.some((c) => this.statements[c].isClause && ELSE_CLAUSE.test(this.statements[c].type)));
    return exhaustive ? this.union(...outs) : this.union(afterOwn, ...outs);
  }
}
