// `npm run lint`: type-aware lint (typescript-eslint recommendedTypeChecked) over every TypeScript file, plain
// recommended rules over the few JavaScript files (bin/oncely.js, this file). Every linted .ts file must be in
// tsconfig.json's `include`, where the project service finds it.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // examples/ are separate packages that import the packed `oncely`: scripts/check-example.sh installs,
    // type-checks and tests them against it.
    ignores: ['**/node_modules/**', '**/dist/**', 'migrations/**', 'coverage/**', 'examples/**'],
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A leading underscore marks a parameter or binding that a signature requires but the body does not use.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // Passing a caught `unknown` on unchanged is fine (as only-throw-error already allows for throw); a new non-Error reason is not.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // vitest types its asymmetric matchers (expect.any, expect.objectContaining) `any` on purpose: they stand where a value goes.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    files: ['**/*.js'],
    extends: [js.configs.recommended],
    // Plain Node ESM scripts; the type-aware rules need a tsconfig these files are not in.
    languageOptions: { sourceType: 'module', globals: { process: 'readonly', console: 'readonly' } },
  },
);
