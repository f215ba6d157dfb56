// The whole tree is linted (`eslint .` in `npm test`) for the layer rule of docs/architecture.md:
// imports run one way, client/ and stats/ at the bottom, cli/ and bench/ at the top, and no
// import circle comes back. The workflow sandbox rules that tsc cannot see (no I/O, no Node
// builtins, activities as types only, no dropped promise) apply to workflows/ and, for the
// builtins, to contracts/, whose values the workflow bundle imports.
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

/** Each layer and the folders it must not import from (everything above it, and its peers). */
const LAYERS = {
  client: ['stats', 'contracts', 'sql', 'control', 'activities', 'workflows', 'workers', 'cli', 'bench', 'examples'],
  stats: ['client', 'contracts', 'sql', 'control', 'activities', 'workflows', 'workers', 'cli', 'bench', 'examples'],
  contracts: ['client', 'sql', 'control', 'activities', 'workflows', 'workers', 'cli', 'bench', 'examples'],
  sql: ['client', 'control', 'activities', 'workflows', 'workers', 'cli', 'bench', 'examples'],
  control: ['client', 'stats', 'sql', 'activities', 'workflows', 'workers', 'cli', 'bench', 'examples'],
  activities: ['workflows', 'workers', 'cli', 'bench', 'examples'],
  workflows: ['client', 'stats', 'sql', 'control', 'workers', 'cli', 'bench', 'examples'],
  workers: ['cli', 'bench', 'examples'],
  cli: ['bench'],
};

/**
 * The capabilities under activities/, each importing only those before it (and never the
 * Temporal adapters): evaluate ← estimate, calibrate, off-policy ← diagnose ← monitoring ← report.
 * metrics (the /metrics exposition and the process counters) imports none, so any may count.
 */
const CAPABILITIES = {
  metrics: ['delivery', 'ingest', 'evaluate', 'estimate', 'calibrate', 'off-policy', 'diagnose', 'monitoring', 'report'],
  delivery: ['ingest', 'evaluate', 'estimate', 'calibrate', 'off-policy', 'diagnose', 'monitoring', 'report'],
  ingest: ['delivery', 'evaluate', 'estimate', 'calibrate', 'off-policy', 'diagnose', 'monitoring', 'report'],
  evaluate: ['ingest', 'estimate', 'calibrate', 'off-policy', 'diagnose', 'monitoring', 'report'],
  estimate: ['ingest', 'calibrate', 'off-policy', 'diagnose', 'monitoring', 'report'],
  calibrate: ['ingest', 'estimate', 'off-policy', 'diagnose', 'monitoring', 'report'],
  'off-policy': ['ingest', 'estimate', 'calibrate', 'diagnose', 'monitoring', 'report'],
  diagnose: ['ingest', 'calibrate', 'off-policy', 'monitoring', 'report'],
  monitoring: ['ingest', 'calibrate', 'off-policy', 'report'],
  report: ['ingest', 'calibrate'],
};

const layerZones = Object.entries(LAYERS).map(([target, from]) => ({
  target: `./${target}`,
  from: from.map((folder) => `./${folder}`),
  message: `${target}/ sits below these folders (docs/architecture.md)`,
}));
const capabilityZones = Object.entries(CAPABILITIES).map(([target, from]) => ({
  target: `./activities/${target}`,
  from: [...from.map((folder) => `./activities/${folder}`), './activities/temporal', './activities/index.ts', './control'],
  message: `activities/${target}/ imports only earlier capabilities, never the Temporal adapters or control/`,
}));

const NODE_BUILTINS = ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'http', 'net'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '.hindsight/**', 'coverage/**', 'test/artifacts/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })] },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: [...layerZones, ...capabilityZones] }],
    },
  },
  {
    files: ['stats/**/*.ts', 'contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'stats/ and contracts/ do no I/O (and the workflow bundle imports contracts/)' },
            { group: ['knex', 'pg', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'no I/O below sql/' },
          ],
        },
      ],
    },
  },
  {
    files: ['control/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['knex', 'pg', '@temporalio/worker', '@temporalio/activity'], message: 'control/ is Temporal client operations only' },
          ],
        },
      ],
    },
  },
  {
    files: ['activities/**/*.ts'],
    ignores: ['activities/temporal/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@temporalio/activity', '@temporalio/client', '@temporalio/worker'],
              message: 'only activities/temporal/ adapts a capability to Temporal',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'workflows run in a deterministic sandbox: no Node builtins' },
            {
              group: ['knex', 'pg', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
              message: 'workflows do no I/O: call an activity',
            },
            {
              group: ['../activities', '../activities/*', '../activities/**'],
              allowTypeImports: true,
              message: 'import activities as types only (proxyActivities)',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'no environment reads in workflows' },
        { name: 'setTimeout', message: 'use sleep() or condition() from @temporalio/workflow' },
        { name: 'setInterval', message: 'use sleep() in a loop' },
      ],
    },
  },
);
