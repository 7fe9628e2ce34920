import type { Node, Tree } from 'web-tree-sitter';
import type { LanguageSpec } from './language-specs';
import { SliceFailure } from './slice-failure';

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
  /** The tree-sitter node that bounds this statement's group of siblings. */
  containerId: number;
  isClause: boolean;
  /** Whether an exit (return, throw, break, continue, goto) is inside, outside nested functions. */
  containsExit: boolean;
}

export interface DependenceGraph {
  statements: StatementNode[];
  /** Edges from a statement to those that depend on it (data or control). */
  forward: Set<number>[];
  /** The same edges reversed, plus guard edges (below). */
  backward: Set<number>[];
  /** 1-based line → the statement that owns it. */
  lineOwner: Map<number, number>;
  /** 1-based lines holding code (not blank, not only comments). */
  codeLines: Set<number>;
}

type State = Map<string, Set<number>>;

const BODY_FIELDS = new Set(['body', 'consequence', 'alternative']);
/** Fields that hold expressions read, never targets written, on the way up from an identifier. */
const USE_FIELDS = new Set(['size', 'right', 'arguments', 'argument_list', 'index', 'subscript', 'condition', 'default_value', 'type', 'body', 'function', 'return_type', 'operand_index']);
/** For each access type, the field that holds the object being written through. */
const ACCESS_BASE_FIELDS = new Set(['object', 'argument', 'value', 'operand', 'array', 'receiver']);
const ELSE_CLAUSE = /^else(_clause)?$/;
const STATEMENTISH = /(statement|declaration|definition|^expression|assignment|^call$|^return$)/;

interface Budget {
  deadline: number;
  timeBudgetMs: number;
  maxDepth: number;
}

function fieldOf(node: Node): string | null {
  const parent = node.parent;
  if (!parent) return null;
  for (let i = 0; i < parent.childCount; i += 1) {
    const child = parent.child(i);
    if (child && child.id === node.id) return parent.fieldNameForChild(i);
  }
  return null;
}

/**
 * Builds the intra-procedural program dependence graph of a parsed function: statements as nodes;
 * data edges from reaching definitions computed over the structured control flow (branches join,
 * loops iterate to a fixed point, break and continue carry their state to the loop's exit and head,
 * return and throw end a path, a try handler may start after any protected statement); control
 * edges from each statement's nearest enclosing statement (function entries excepted), and from a
 * statement holding an early exit to the statements after it in the same block.
 */
export function buildDependenceGraph(tree: Tree, spec: LanguageSpec, budget: Budget): DependenceGraph {
  const sets = {
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
    comment: new Set(spec.commentTypes),
    nonVar: new Set(spec.nonVariableFields.map(([t, f]) => `${t}.${f}`)),
  };
  const defSites = new Map(spec.definitions.map((d) => [d.type, d]));
  const paramFields = new Set(spec.parameterFields);
  const checkTime = (): void => {
    if (performance.now() > budget.deadline) throw new SliceFailure('timeout', `analysis took longer than ${budget.timeBudgetMs} ms`);
  };

  const root = tree.rootNode;
  const statements: StatementNode[] = [];
  const nodeOf: Node[] = [];
  const codeLines = new Set<number>();

  const kindOf = (type: string): StatementNode['kind'] => {
    if (sets.fn.has(type)) return 'function';
    if (sets.loop.has(type)) return 'loop';
    if (sets.tryT.has(type)) return 'try';
    if (sets.leave.has(type)) return 'leave';
    if (sets.brk.has(type)) return 'break';
    if (sets.cont.has(type)) return 'continue';
    if (sets.clause.has(type)) return 'clause';
    return 'plain';
  };

  const isStatement = (node: Node, parent: Node, field: string | null, parentIsStatement: boolean): boolean => {
    if (!node.isNamed || sets.comment.has(node.type) || sets.block.has(node.type)) return false;
    if (sets.clause.has(node.type)) return true;
    if (sets.block.has(parent.type)) return field !== 'condition' && field !== 'value';
    if (field && BODY_FIELDS.has(field) && parentIsStatement && !sets.fn.has(parent.type)) return true;
    if (sets.clause.has(parent.type) && !(field && (USE_FIELDS.has(field) || field === 'value' || field === 'parameter')) && STATEMENTISH.test(node.type)) return true;
    return false;
  };

  // Pass 1: the statement tree, code lines, and each node's owning statement. Iterative, with a
  // depth limit, so a hostile nesting cannot overflow the stack.
  statements.push({ id: 0, type: root.type, parent: -1, children: [], startRow: root.startPosition.row, endRow: root.endPosition.row, ownLines: [], defs: [], uses: [], kind: 'root', containerId: -1, isClause: false, containsExit: false });
  nodeOf.push(root);
  const identifiers: { node: Node; owner: number }[] = [];
  // `viaFunction`: a function node lies between this node and its owning statement (an exported
  // function, an arrow function in a declaration, a decorated definition, a callback argument).
  const stack: { node: Node; parent: Node; owner: number; depth: number; field: string | null; ownerIsStatementNode: boolean; viaFunction: boolean }[] = [];
  const viaFunctionOf: boolean[] = [false];
  for (let i = root.childCount - 1; i >= 0; i -= 1) {
    const c = root.child(i);
    if (c) stack.push({ node: c, parent: root, owner: 0, depth: 1, field: root.fieldNameForChild(i), ownerIsStatementNode: true, viaFunction: false });
  }
  let visited = 0;
  // Field names and parents seen on the way down: web-tree-sitter computes `node.parent` by a
  // search from the root, and field names by scanning siblings, both slow in the climb below.
  const fieldById = new Map<number, string | null>();
  const parentById = new Map<number, Node>();
  while (stack.length > 0) {
    const { node, parent, owner, depth, field, ownerIsStatementNode, viaFunction } = stack.pop() as (typeof stack)[number];
    fieldById.set(node.id, field);
    parentById.set(node.id, parent);
    if (depth > budget.maxDepth) throw new SliceFailure('too_deep', `syntax nesting deeper than ${budget.maxDepth} levels`);
    if ((visited += 1) % 2048 === 0) checkTime();
    if (sets.comment.has(node.type)) continue;
    let current = owner;
    let currentIsStatementNode = false;
    if (isStatement(node, parent, field, ownerIsStatementNode)) {
      const id = statements.length;
      const kind = kindOf(node.type);
      statements.push({ id, type: node.type, parent: owner, children: [], startRow: node.startPosition.row, endRow: node.endPosition.row, ownLines: [], defs: [], uses: [], kind, containerId: sets.clause.has(node.type) ? node.id : parent.id, isClause: sets.clause.has(node.type), containsExit: false });
      nodeOf.push(node);
      viaFunctionOf.push(viaFunction);
      statements[owner].children.push(id);
      if (kind === 'leave' || kind === 'break' || kind === 'continue') {
        // return/throw guard everything after them in the function; break/continue only inside
        // the loop (or switch) they leave.
        for (let s = owner; s > 0 && statements[s].kind !== 'function'; s = statements[s].parent) {
          if (kind !== 'leave' && (statements[s].kind === 'loop' || /switch/.test(statements[s].type))) break;
          statements[s].containsExit = true;
        }
      }
      current = id;
      currentIsStatementNode = true;
    }
    if (node.childCount === 0) {
      for (let r = node.startPosition.row; r <= node.endPosition.row; r += 1) codeLines.add(r + 1);
      if (sets.ident.has(node.type)) identifiers.push({ node, owner: current });
      continue;
    }
    if (sets.ident.has(node.type)) identifiers.push({ node, owner: current });
    for (let i = node.childCount - 1; i >= 0; i -= 1) {
      const c = node.child(i);
      const via = currentIsStatementNode ? sets.fn.has(node.type) : viaFunction || sets.fn.has(node.type);
      if (c) stack.push({ node: c, parent: node, owner: current, depth: depth + 1, field: node.fieldNameForChild(i), ownerIsStatementNode: currentIsStatementNode, viaFunction: via });
    }
  }

  // Own lines: code lines of a statement not covered by a nested statement.
  const covered = new Map<number, Set<number>>();
  for (const s of statements) {
    if (s.id === 0) continue;
    const p = statements[s.parent];
    let set = covered.get(p.id);
    if (!set) covered.set(p.id, (set = new Set()));
    for (let r = s.startRow; r <= s.endRow; r += 1) set.add(r + 1);
  }
  const lineOwner = new Map<number, number>();
  for (const s of statements) {
    const inner = covered.get(s.id);
    for (let line = s.startRow + 1; line <= s.endRow + 1; line += 1) {
      if (codeLines.has(line) && !inner?.has(line)) {
        s.ownLines.push(line);
        lineOwner.set(line, s.id);
      }
    }
  }

  // Definitions and uses: climb from each identifier to the statement that owns it, deciding
  // on the way whether it is written (strongly, or through a member/subscript) or read.
  for (const { node, owner } of identifiers) {
    const name = node.text;
    const field0 = fieldById.has(node.id) ? (fieldById.get(node.id) as string | null) : fieldOf(node);
    const parent0 = parentById.get(node.id) ?? node.parent;
    if (parent0 && sets.nonVar.has(`${parent0.type}.${field0}`)) continue;
    if (parent0 && sets.fn.has(parent0.type) && field0 === 'name') continue;
    let role: 'use' | 'def' | 'weak' | 'both' = 'use';
    let throughAccess = false;
    let child: Node = node;
    let field = field0;
    const ownerNode = nodeOf[owner];
    const up = (n: Node): Node | null => parentById.get(n.id) ?? n.parent;
    const stopAt = owner === 0 ? -1 : (up(ownerNode)?.id ?? -1);
    for (let anc = parent0; anc && anc.id !== stopAt; anc = up(anc)) {
      const site = defSites.get(anc.type);
      if (site) {
        if (site.fields.length === 0 || (field !== null && site.fields.includes(field))) {
          // `x += 1` is `assignment_expression` with an operator in C, C++, Java and Go: it reads x too.
          const op = anc.childForFieldName('operator')?.text;
          const compound = op !== undefined && op !== '=' && op !== ':=';
          role = throughAccess ? 'weak' : site.alsoUse || compound ? 'both' : 'def';
        }
        break;
      }
      if (sets.fn.has(anc.type)) {
        if (field !== null && paramFields.has(field)) role = 'def';
        break;
      }
      if (sets.access.has(anc.type)) {
        if (field !== null && ACCESS_BASE_FIELDS.has(field) && child.id === anc.namedChild(0)?.id) throughAccess = true;
        else break;
      } else if (field !== null && USE_FIELDS.has(field)) {
        break;
      }
      if (anc.id === ownerNode.id) break;
      child = anc;
      field = fieldById.has(anc.id) ? (fieldById.get(anc.id) as string | null) : fieldOf(anc);
    }
    const s = statements[owner];
    if (role === 'use') s.uses.push(name);
    else if (role === 'def') s.defs.push({ name, strong: true });
    else {
      s.defs.push({ name, strong: false });
      s.uses.push(name);
    }
  }

  // Pass 2: reaching definitions over the structured control flow.
  const forward: Set<number>[] = statements.map(() => new Set());
  const backward: Set<number>[] = statements.map(() => new Set());
  const edge = (from: number, to: number): void => {
    if (from === to) return;
    forward[from].add(to);
    backward[to].add(from);
  };
  for (const s of statements) {
    // Entering a function is not a control decision, so a function (or a statement that only
    // wraps one) starts no control dependence.
    if (s.parent > 0 && statements[s.parent].kind !== 'function' && !viaFunctionOf[s.id]) edge(s.parent, s.id);
  }

  const union = (...states: (State | undefined)[]): State => {
    const out: State = new Map();
    for (const st of states) {
      if (!st) continue;
      for (const [k, v] of st) {
        const cur = out.get(k);
        if (cur) for (const d of v) cur.add(d);
        else out.set(k, new Set(v));
      }
    }
    return out;
  };
  const sameState = (a: State, b: State): boolean => {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) {
      const w = b.get(k);
      if (!w || w.size !== v.size) return false;
      for (const d of v) if (!w.has(d)) return false;
    }
    return true;
  };

  interface LoopCtx { breaks: State[]; continues: State[] }
  interface TryCtx { seen: State[] }
  const applyOwn = (s: StatementNode, state: State): State => {
    for (const u of s.uses) for (const d of state.get(u) ?? []) edge(d, s.id);
    if (s.defs.length === 0) return state;
    const out = union(state);
    for (const d of s.defs) {
      if (d.strong) out.set(d.name, new Set([s.id]));
      else (out.get(d.name) ?? out.set(d.name, new Set()).get(d.name) as Set<number>).add(s.id);
    }
    return out;
  };
  const groupsOf = (s: StatementNode): number[][] => {
    const groups = new Map<number, number[]>();
    for (const c of s.children) {
      const child = statements[c];
      const key = child.isClause ? -(c + 1) : child.containerId;
      const g = groups.get(key);
      if (g) g.push(c);
      else groups.set(key, [c]);
    }
    return [...groups.values()];
  };

  const processSeq = (ids: number[], state: State, loop: LoopCtx | undefined, tries: TryCtx[]): State => {
    let cur = state;
    const guards: number[] = [];
    for (const id of ids) {
      // A statement after an early-exit guard (`if (n < 3) return -1;`) runs only when the guard
      // lets it. The edge is followed backward only: a slice reaching the statement shows its
      // guard, but a changed guard does not pull in the rest of the function.
      for (const g of guards) if (g !== id) backward[id].add(g);
      cur = processStmt(statements[id], cur, loop, tries);
      for (const t of tries) t.seen.push(cur);
      if (statements[id].containsExit || ['leave', 'break', 'continue'].includes(statements[id].kind)) guards.push(id);
    }
    return cur;
  };

  let steps = 0;
  const processStmt = (s: StatementNode, state: State, loop: LoopCtx | undefined, tries: TryCtx[]): State => {
    if ((steps += 1) % 256 === 0) checkTime();
    const afterOwn = applyOwn(s, state);
    if (s.kind === 'leave') return new Map();
    if (s.kind === 'break') {
      loop?.breaks.push(afterOwn);
      return new Map();
    }
    if (s.kind === 'continue') {
      loop?.continues.push(afterOwn);
      return new Map();
    }
    const groups = groupsOf(s);
    if (groups.length === 0) return afterOwn;
    if (s.kind === 'loop') {
      const ctx: LoopCtx = { breaks: [], continues: [] };
      let head = afterOwn;
      for (let i = 0; i < 4; i += 1) {
        const ends = groups.map((g) => processSeq(g, head, ctx, tries));
        const next = union(head, ...ends, ...ctx.continues);
        // A loop header reads what the previous iteration wrote.
        for (const u of s.uses) for (const d of next.get(u) ?? []) edge(d, s.id);
        if (sameState(next, head)) break;
        head = next;
      }
      return union(head, ...ctx.breaks);
    }
    if (s.kind === 'try') {
      const [body, ...handlers] = groups;
      const ctx: TryCtx = { seen: [afterOwn] };
      const bodyOut = processSeq(body, afterOwn, loop, [...tries, ctx]);
      const handlerIn = union(...ctx.seen, bodyOut);
      const outs = handlers.map((h) => processSeq(h, handlerIn, loop, tries));
      return union(bodyOut, ...outs);
    }
    const outs = groups.map((g) => processSeq(g, afterOwn, loop, tries));
    // With an else branch one of the branches always runs, so what they all redefine is killed.
    // A clause (else, elif, case, catch) runs its body after its header: the body's end is its end.
    const exhaustive =
      (s.kind === 'clause' && groups.length === 1) || (groups.length >= 2 && s.children.some((c) => statements[c].isClause && ELSE_CLAUSE.test(statements[c].type)));
    return exhaustive ? union(...outs) : union(afterOwn, ...outs);
  };

  processStmt(statements[0], new Map(), undefined, []);
  return { statements, forward, backward, lineOwner, codeLines };
}
