// General lint for TypeScript. Import direction (apps → libs, domain imports nothing of ours,
// apps never import apps) is enforced by dependency-cruiser (.dependency-cruiser.cjs), which
// resolves the tsconfig path aliases the way the compiler does.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // A caught error ignored on purpose is named with a leading underscore (never a bare `catch {}`), beside a comment saying why.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read configuration through @rescue/config (the only reader of process.env).',
        },
      ],
    },
  },
  {
    files: ['libs/config/src/**/*.ts', 'tools/**', '**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', 'test/**'],
    rules: { 'no-restricted-syntax': 'off', 'no-console': 'off' },
  },
);
