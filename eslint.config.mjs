// Lints the workflow sandbox rules that tsc cannot see: workflows must stay deterministic
// (no I/O, no Node builtins, activities imported as types only) and never drop a promise.
import tseslint from 'typescript-eslint';

export default tseslint.config({
  files: ['workflows/**/*.ts'],
  extends: [tseslint.configs.base],
  languageOptions: {
    parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
  },
  rules: {
    '@typescript-eslint/no-floating-promises': 'error',
    '@typescript-eslint/no-misused-promises': 'error',
    '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
    'no-restricted-imports': ['error', {
      patterns: [
        { group: ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'http', 'net'], message: 'workflows run in a deterministic sandbox: no Node builtins' },
        { group: ['knex', 'pg', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'workflows do no I/O: call an activity' },
        { group: ['../activities', '../activities/*', '../workers/*', '../cli/*'], allowTypeImports: true, message: 'import activities as types only (proxyActivities)' },
      ],
    }],
    'no-restricted-globals': ['error',
      { name: 'process', message: 'no environment reads in workflows' },
      { name: 'setTimeout', message: 'use sleep() or condition() from @temporalio/workflow' },
      { name: 'setInterval', message: 'use sleep() in a loop' }],
  },
});
