// ESLint flat config (`npm run lint`): typescript-eslint's type-aware recommended
// rules over the TypeScript sources, typed through tsconfig.test.json and, for
// the type test of the published declarations, test/types/tsconfig.json.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'build/', 'build-sanitize/', 'prebuilds/', 'node_modules/', 'bench/results/'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.test.json', './test/types/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // The code writes `xs[i]!` on indexed access on purpose (ready for noUncheckedIndexedAccess); the rule flags each one.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // `const { a: _a, ...rest } = o` drops a key; a leading `_` marks a deliberately unused name.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    ignores: ['test/types/**'],
    rules: {
      // Tests and the fuzzer call the API with deliberately ill-typed values (through `any`) to check its runtime validation.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // They also detach methods and getters on purpose (wrong `this`, static factories passed as values).
      '@typescript-eslint/unbound-method': 'off',
      // `async () => f()` turns a synchronous throw into a rejection, which the assertions expect.
      '@typescript-eslint/require-await': 'off',
    },
  },
);
