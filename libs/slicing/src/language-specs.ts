import type { Language } from '@rescue/domain';

/**
 * What the slicer needs to know about one language's tree-sitter grammar, as data. The analysis in
 * dependence-graph.ts is shared by every language; adding one is adding a row here, a folder of
 * queries for its calls, imports and comments (libs/slicing/data/queries/<language>/, see
 * syntax-queries.ts), and a fixture test.
 */
export interface LanguageSpec {
  language: Language;
  /** Module path of the grammar's .wasm, resolved with require.resolve. */
  wasm: string;
  /** How a line comment starts (for the elision marker). */
  lineComment: '#' | '//';
  /** Functions, methods and closures. Their parameters are definitions; they start no control dependence. */
  functionTypes: string[];
  /** Transparent containers whose named children are statements (blocks, statement lists, roots). */
  blockTypes: string[];
  /** Parts of a compound statement with a header of their own: else, elif, catch, finally, case. */
  clauseTypes: string[];
  /** Loops: definitions at the end of the body reach its start. */
  loopTypes: string[];
  /** try statements: a handler may start after any statement of the protected body. */
  tryTypes: string[];
  /** Statements that leave the function, the loop, or skip to the next iteration. */
  exits: { leave: string[]; breakLoop: string[]; continueLoop: string[] };
  /** Node types that name a variable. */
  identifierTypes: string[];
  /** [parent type, field] pairs whose identifier child is a name of something else (a field, a keyword argument). */
  nonVariableFields: [string, string][];
  /** Member, subscript and dereference expressions: writing through one updates its base, not replaces it. */
  accessTypes: string[];
  /** Where definitions happen: identifiers under these fields of these node types are defined. */
  definitions: { type: string; fields: string[]; alsoUse?: boolean }[];
  /** Fields of a function node that hold its parameters. */
  parameterFields: string[];
  /**
   * Code put around a function that does not parse alone (a method, an object-literal member),
   * tried only then; `when` restricts a wrapper to code it matches.
   */
  fragmentWrappers?: { prefix: string; suffix: string; when?: RegExp }[];
  /**
   * For `Slicer.functions`: node types that count as a definition besides `functionTypes` (Java's
   * bare blocks, where example code puts snippets), and containers besides `blockTypes` whose
   * children are separate definitions (a C++ class's member list, a preprocessor conditional).
   */
  definitionTypes?: string[];
  definitionContainers?: string[];
}

const C_FAMILY_EXITS = { leave: ['return_statement', 'goto_statement', 'throw_statement'], breakLoop: ['break_statement'], continueLoop: ['continue_statement'] };

const c: LanguageSpec = {
  language: 'c',
  wasm: 'tree-sitter-c/tree-sitter-c.wasm',
  lineComment: '//',
  functionTypes: ['function_definition'],
  blockTypes: ['translation_unit', 'compound_statement'],
  clauseTypes: ['else_clause', 'case_statement'],
  loopTypes: ['for_statement', 'while_statement', 'do_statement'],
  tryTypes: [],
  exits: C_FAMILY_EXITS,
  identifierTypes: ['identifier'],
  nonVariableFields: [],
  accessTypes: ['field_expression', 'subscript_expression', 'pointer_expression'],
  definitions: [
    { type: 'init_declarator', fields: ['declarator'] },
    { type: 'declaration', fields: ['declarator'] },
    { type: 'assignment_expression', fields: ['left'] },
    { type: 'update_expression', fields: ['argument'], alsoUse: true },
    { type: 'parameter_declaration', fields: ['declarator'] },
  ],
  parameterFields: ['declarator'],
  // A function whose leading comment was cut off starts inside it.
  fragmentWrappers: [{ prefix: '/*\n', suffix: '', when: /^\s*\*\// }],
  definitionContainers: ['preproc_if', 'preproc_ifdef', 'preproc_else', 'preproc_elif'],
};

const cpp: LanguageSpec = {
  ...c,
  language: 'cpp',
  wasm: 'tree-sitter-cpp/tree-sitter-cpp.wasm',
  functionTypes: ['function_definition', 'lambda_expression'],
  blockTypes: ['translation_unit', 'compound_statement', 'declaration_list'],
  clauseTypes: ['else_clause', 'case_statement', 'catch_clause'],
  loopTypes: ['for_statement', 'while_statement', 'do_statement', 'for_range_loop'],
  tryTypes: ['try_statement'],
  identifierTypes: ['identifier'],
  accessTypes: ['field_expression', 'subscript_expression', 'pointer_expression'],
  definitions: [...c.definitions, { type: 'for_range_loop', fields: ['declarator'] }, { type: 'optional_parameter_declaration', fields: ['declarator'] }],
  definitionContainers: [...(c.definitionContainers ?? []), 'field_declaration_list'],
};

const python: LanguageSpec = {
  language: 'python',
  wasm: 'tree-sitter-python/tree-sitter-python.wasm',
  lineComment: '#',
  functionTypes: ['function_definition', 'lambda'],
  blockTypes: ['module', 'block'],
  clauseTypes: ['elif_clause', 'else_clause', 'except_clause', 'finally_clause', 'case_clause'],
  loopTypes: ['for_statement', 'while_statement'],
  tryTypes: ['try_statement'],
  exits: { leave: ['return_statement', 'raise_statement'], breakLoop: ['break_statement'], continueLoop: ['continue_statement'] },
  identifierTypes: ['identifier'],
  nonVariableFields: [
    ['attribute', 'attribute'],
    ['keyword_argument', 'name'],
  ],
  accessTypes: ['attribute', 'subscript'],
  definitions: [
    { type: 'assignment', fields: ['left'] },
    { type: 'augmented_assignment', fields: ['left'], alsoUse: true },
    { type: 'for_statement', fields: ['left'] },
    { type: 'for_in_clause', fields: ['left'] },
    { type: 'named_expression', fields: ['name'] },
    { type: 'as_pattern', fields: ['alias'] },
    { type: 'default_parameter', fields: ['name'] },
    { type: 'typed_default_parameter', fields: ['name'] },
    { type: 'import_statement', fields: ['name'] },
    { type: 'import_from_statement', fields: ['name'] },
  ],
  parameterFields: ['parameters'],
};

const javascript: LanguageSpec = {
  language: 'javascript',
  wasm: 'tree-sitter-javascript/tree-sitter-javascript.wasm',
  lineComment: '//',
  functionTypes: ['function_declaration', 'function_expression', 'function', 'arrow_function', 'method_definition', 'generator_function_declaration', 'generator_function'],
  blockTypes: ['program', 'statement_block', 'switch_body', 'class_body'],
  clauseTypes: ['else_clause', 'catch_clause', 'finally_clause', 'switch_case', 'switch_default'],
  loopTypes: ['for_statement', 'for_in_statement', 'while_statement', 'do_statement'],
  tryTypes: ['try_statement'],
  exits: { leave: ['return_statement', 'throw_statement'], breakLoop: ['break_statement'], continueLoop: ['continue_statement'] },
  identifierTypes: ['identifier', 'shorthand_property_identifier_pattern'],
  nonVariableFields: [],
  accessTypes: ['member_expression', 'subscript_expression'],
  definitions: [
    { type: 'variable_declarator', fields: ['name'] },
    { type: 'assignment_expression', fields: ['left'] },
    { type: 'augmented_assignment_expression', fields: ['left'], alsoUse: true },
    { type: 'update_expression', fields: ['argument'], alsoUse: true },
    { type: 'for_in_statement', fields: ['left'] },
    { type: 'catch_clause', fields: ['parameter'] },
    { type: 'assignment_pattern', fields: ['left'] },
  ],
  parameterFields: ['parameters', 'parameter'],
  fragmentWrappers: [
    { prefix: '({\n', suffix: '\n})' },
    { prefix: 'class Fragment {\n', suffix: '\n}' },
    { prefix: 'function fragment() {\n', suffix: '\n}' },
  ],
};

const typescript: LanguageSpec = {
  ...javascript,
  language: 'typescript',
  wasm: 'tree-sitter-typescript/tree-sitter-tsx.wasm',
  definitions: [...javascript.definitions, { type: 'required_parameter', fields: ['pattern'] }, { type: 'optional_parameter', fields: ['pattern'] }],
};

const java: LanguageSpec = {
  language: 'java',
  wasm: 'tree-sitter-java/tree-sitter-java.wasm',
  lineComment: '//',
  functionTypes: ['method_declaration', 'constructor_declaration', 'lambda_expression'],
  blockTypes: ['program', 'block', 'class_body', 'constructor_body', 'switch_block'],
  clauseTypes: ['catch_clause', 'finally_clause', 'switch_block_statement_group', 'switch_rule'],
  loopTypes: ['for_statement', 'enhanced_for_statement', 'while_statement', 'do_statement'],
  tryTypes: ['try_statement', 'try_with_resources_statement'],
  exits: { leave: ['return_statement', 'throw_statement'], breakLoop: ['break_statement'], continueLoop: ['continue_statement'] },
  identifierTypes: ['identifier'],
  nonVariableFields: [
    ['field_access', 'field'],
    ['method_invocation', 'name'],
  ],
  accessTypes: ['field_access', 'array_access'],
  definitions: [
    { type: 'variable_declarator', fields: ['name'] },
    { type: 'assignment_expression', fields: ['left'] },
    { type: 'update_expression', fields: [], alsoUse: true },
    { type: 'formal_parameter', fields: ['name'] },
    { type: 'spread_parameter', fields: [] },
    { type: 'enhanced_for_statement', fields: ['name'] },
    { type: 'catch_formal_parameter', fields: ['name'] },
    { type: 'resource', fields: ['name'] },
  ],
  parameterFields: ['parameters'],
  fragmentWrappers: [{ prefix: 'class Fragment {\n', suffix: '\n}' }],
  definitionTypes: ['block', 'static_initializer'],
  definitionContainers: ['interface_body', 'enum_body_declarations'],
};

const go: LanguageSpec = {
  language: 'go',
  wasm: 'tree-sitter-go/tree-sitter-go.wasm',
  lineComment: '//',
  functionTypes: ['function_declaration', 'method_declaration', 'func_literal'],
  blockTypes: ['source_file', 'block', 'statement_list'],
  clauseTypes: ['expression_case', 'default_case', 'type_case', 'communication_case'],
  loopTypes: ['for_statement'],
  tryTypes: [],
  exits: { leave: ['return_statement', 'goto_statement'], breakLoop: ['break_statement'], continueLoop: ['continue_statement'] },
  identifierTypes: ['identifier'],
  nonVariableFields: [],
  accessTypes: ['selector_expression', 'index_expression', 'unary_expression'],
  definitions: [
    { type: 'short_var_declaration', fields: ['left'] },
    { type: 'assignment_statement', fields: ['left'] },
    { type: 'var_spec', fields: ['name'] },
    { type: 'const_spec', fields: ['name'] },
    { type: 'inc_statement', fields: [], alsoUse: true },
    { type: 'dec_statement', fields: [], alsoUse: true },
    { type: 'parameter_declaration', fields: ['name'] },
    { type: 'variadic_parameter_declaration', fields: ['name'] },
    { type: 'range_clause', fields: ['left'] },
  ],
  parameterFields: ['parameters', 'receiver'],
};

const ruby: LanguageSpec = {
  language: 'ruby',
  wasm: 'tree-sitter-ruby/tree-sitter-ruby.wasm',
  lineComment: '#',
  functionTypes: ['method', 'singleton_method', 'lambda', 'do_block', 'block'],
  blockTypes: ['program', 'body_statement', 'then', 'else', 'do', 'begin', 'ensure', 'block_body'],
  clauseTypes: ['elsif', 'else', 'rescue', 'ensure', 'when', 'in_clause'],
  loopTypes: ['while', 'until', 'for', 'while_modifier', 'until_modifier'],
  tryTypes: ['begin'],
  exits: { leave: ['return', 'raise'], breakLoop: ['break'], continueLoop: ['next', 'redo'] },
  identifierTypes: ['identifier'],
  nonVariableFields: [['call', 'method']],
  accessTypes: ['element_reference', 'call', 'scope_resolution'],
  definitions: [
    { type: 'assignment', fields: ['left'] },
    { type: 'operator_assignment', fields: ['left'], alsoUse: true },
    { type: 'for', fields: ['pattern'] },
    { type: 'exception_variable', fields: [] },
    { type: 'optional_parameter', fields: ['name'] },
    { type: 'keyword_parameter', fields: ['name'] },
  ],
  parameterFields: ['parameters'],
  fragmentWrappers: [
    { prefix: '', suffix: '\nend' },
    { prefix: 'class Fragment\n', suffix: '\nend' },
  ],
};

/** Languages the slicer handles, by Rescue's language id. */
export const LANGUAGE_SPECS: Partial<Record<Language, LanguageSpec>> = { c, cpp, python, javascript, typescript, java, go, ruby };

export type SliceableLanguage = 'c' | 'cpp' | 'python' | 'javascript' | 'typescript' | 'java' | 'go' | 'ruby';
