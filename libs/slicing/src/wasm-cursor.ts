import { endianness } from 'node:os';
import type { TreeCursor } from 'web-tree-sitter';

/**
 * The few tree-cursor calls the statement walk makes, as web-tree-sitter's TreeCursor names them.
 * {@link fastCursor} answers them without the copying TreeCursor does around each call.
 */
export interface WalkCursor {
  readonly nodeTypeId: number;
  readonly nodeId: number;
  readonly currentFieldId: number;
  readonly startIndex: number;
  readonly endIndex: number;
  gotoFirstChild(): boolean;
  gotoNextSibling(): boolean;
  gotoParent(): boolean;
  delete(): void;
}

/**
 * The exports of web-tree-sitter's WebAssembly module that a cursor walk calls. Emscripten puts
 * them on the object given to `Parser.init`, which becomes the module. Each reads the cursor's
 * state (four words) from the module's transfer buffer; the moves write the moved state back
 * there, and the other calls leave it as it was.
 */
interface CursorExports {
  HEAP32: Int32Array;
  _ts_init(): number;
  _ts_tree_cursor_goto_first_child_wasm(tree: number): number;
  _ts_tree_cursor_goto_next_sibling_wasm(tree: number): number;
  _ts_tree_cursor_goto_parent_wasm(tree: number): number;
  _ts_tree_cursor_current_node_type_id_wasm(tree: number): number;
  _ts_tree_cursor_current_node_id_wasm(tree: number): number;
  _ts_tree_cursor_current_field_id_wasm(tree: number): number;
  _ts_tree_cursor_start_index_wasm(tree: number): number;
  _ts_tree_cursor_end_index_wasm(tree: number): number;
}

/** TreeCursor's internal fields: its state words at 0-3 and its tree, whose word 0 is the tree's address. */
type CursorInternals = TreeCursor & Record<0 | 1 | 2 | 3, number> & { tree: { 0: number } };

const EXPORTS = [
  '_ts_init',
  '_ts_tree_cursor_goto_first_child_wasm',
  '_ts_tree_cursor_goto_next_sibling_wasm',
  '_ts_tree_cursor_goto_parent_wasm',
  '_ts_tree_cursor_current_node_type_id_wasm',
  '_ts_tree_cursor_current_node_id_wasm',
  '_ts_tree_cursor_current_field_id_wasm',
  '_ts_tree_cursor_start_index_wasm',
  '_ts_tree_cursor_end_index_wasm',
] as const;

let exportsFound: { module: CursorExports; buffer: number } | undefined;

/**
 * Called with the object given to `Parser.init`, once it resolved. When it is not the module (a
 * web-tree-sitter that no longer works this way, or one initialised elsewhere first) or the host
 * is big-endian (the module's memory is little-endian, HEAP32 the host's order), walks keep using
 * TreeCursor.
 */
export function useWasmExports(moduleOptions: object): void {
  const m = moduleOptions as Partial<CursorExports>;
  if (endianness() !== 'LE' || !(m.HEAP32 instanceof Int32Array) || EXPORTS.some((name) => typeof m[name] !== 'function')) return;
  const module = m as CursorExports;
  // ts_init only writes the two version words into the transfer buffer and returns its address.
  exportsFound = { module, buffer: module._ts_init() };
}

/** Whether {@link fastCursor} calls the module directly (else it hands back the TreeCursor). */
export const directCursorAvailable = (): boolean => exportsFound !== undefined;

/**
 * A cursor for one walk that calls the module directly: web-tree-sitter's TreeCursor copies its
 * state into the transfer buffer before every call and out after every move (eight
 * getValue/setValue calls through a DataView), which cost a statement walk about as much as the
 * moves themselves. This one puts the state there once and takes it back at `delete`.
 *
 * Nothing else may call into tree-sitter between the cursor's creation and its `delete` (nothing
 * else may use the transfer buffer): a walk from start to end, with no other tree-sitter call
 * inside, is the only use.
 */
export function fastCursor(cursor: TreeCursor): WalkCursor {
  return exportsFound ? new DirectCursor(cursor as CursorInternals, exportsFound.module, exportsFound.buffer) : cursor;
}

class DirectCursor implements WalkCursor {
  private readonly tree: number;
  private readonly word: number;
  // The exports, read off the module once: it is a large object, slower to look a property up in than this one.
  private readonly typeId: (tree: number) => number;
  private readonly id: (tree: number) => number;
  private readonly fieldId: (tree: number) => number;
  private readonly start: (tree: number) => number;
  private readonly end: (tree: number) => number;
  private readonly firstChild: (tree: number) => number;
  private readonly nextSibling: (tree: number) => number;
  private readonly parent: (tree: number) => number;

  constructor(
    private readonly cursor: CursorInternals,
    private readonly m: CursorExports,
    buffer: number,
  ) {
    this.tree = cursor.tree[0];
    this.word = buffer >> 2;
    this.typeId = m._ts_tree_cursor_current_node_type_id_wasm;
    this.id = m._ts_tree_cursor_current_node_id_wasm;
    this.fieldId = m._ts_tree_cursor_current_field_id_wasm;
    this.start = m._ts_tree_cursor_start_index_wasm;
    this.end = m._ts_tree_cursor_end_index_wasm;
    this.firstChild = m._ts_tree_cursor_goto_first_child_wasm;
    this.nextSibling = m._ts_tree_cursor_goto_next_sibling_wasm;
    this.parent = m._ts_tree_cursor_goto_parent_wasm;
    const heap = m.HEAP32;
    for (let i = 0; i < 4; i += 1) heap[this.word + i] = cursor[i as 0 | 1 | 2 | 3];
  }

  get nodeTypeId(): number {
    return this.typeId(this.tree);
  }

  get nodeId(): number {
    return this.id(this.tree);
  }

  get currentFieldId(): number {
    return this.fieldId(this.tree);
  }

  get startIndex(): number {
    return this.start(this.tree);
  }

  get endIndex(): number {
    return this.end(this.tree);
  }

  gotoFirstChild(): boolean {
    return this.firstChild(this.tree) === 1;
  }

  gotoNextSibling(): boolean {
    return this.nextSibling(this.tree) === 1;
  }

  gotoParent(): boolean {
    return this.parent(this.tree) === 1;
  }

  /** Takes the state back (a move may have grown the module's memory: HEAP32 is read again) and frees the cursor. */
  delete(): void {
    const heap = this.m.HEAP32;
    for (let i = 0; i < 4; i += 1) this.cursor[i as 0 | 1 | 2 | 3] = heap[this.word + i];
    this.cursor.delete();
  }
}
