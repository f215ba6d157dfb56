import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The layer rule of docs/architecture.md, checked on the import graph itself. ESLint's
// import-x/no-cycle skips type-only imports; a circle of types still ties modules together
// (one cannot move without the other), so this walks every import, types included.

const ROOT = path.resolve(__dirname, '../..');
const SOURCE_FOLDERS = ['client', 'stats', 'contracts', 'sql', 'control', 'activities', 'workflows', 'workers', 'cli', 'bench', 'examples'];

function sourceFiles(): string[] {
  const config = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  return parsed.fileNames.map((file) => path.relative(ROOT, file)).filter((file) => SOURCE_FOLDERS.includes(file.split('/')[0]!));
}

/** Each source file's imports of other source files (type-only imports and re-exports included). */
function importGraph(): Map<string, string[]> {
  const files = sourceFiles();
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
    const targets = importedFiles
      .map((imported) => imported.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => path.join(path.dirname(file), spec))
      .map((base) => [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => known.has(candidate)))
      .filter((target): target is string => target !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Every circle in the graph, each as the path that closes it (Tarjan's strongly connected components). */
function circles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** The folders each layer may import from (besides itself); docs/architecture.md. */
const MAY_IMPORT: Record<string, string[]> = {
  client: [],
  stats: [],
  contracts: ['stats'],
  sql: ['contracts', 'stats'],
  control: ['contracts'],
  activities: ['client', 'stats', 'contracts', 'sql', 'control'],
  workflows: ['contracts', 'activities'],
  workers: ['client', 'stats', 'contracts', 'sql', 'control', 'activities', 'workflows'],
  cli: ['client', 'stats', 'contracts', 'sql', 'control', 'activities', 'workflows', 'workers', 'examples'],
  bench: ['client', 'stats', 'contracts', 'sql', 'control', 'activities', 'workflows', 'workers', 'cli', 'examples'],
  examples: ['client', 'stats'],
};

describe('the layout', () => {
  const graph = importGraph();

  it('reads the whole source tree', () => {
    expect(graph.size).toBeGreaterThan(150);
    expect(graph.get('activities/index.ts')).toContain('activities/temporal/lifecycle.ts');
  });

  it('has no import circle, type-only imports included', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('finds a circle when there is one', () => {
    const looped = new Map(graph);
    looped.set('stats/bin-sums.ts', [...(graph.get('stats/bin-sums.ts') ?? []), 'stats/calibration.ts']);
    expect(circles(looped)).toEqual([['stats/bin-sums.ts', 'stats/calibration.ts']]);
  });

  it('imports only down the layers', () => {
    const upward = [...graph].flatMap(([file, targets]) => {
      const layer = file.split('/')[0]!;
      return targets
        .filter((target) => {
          const other = target.split('/')[0]!;
          return other !== layer && !MAY_IMPORT[layer]!.includes(other);
        })
        .map((target) => `${file} → ${target}`);
    });
    expect(upward).toEqual([]);
  });

  it('keeps @temporalio/activity in the Temporal adapters alone', () => {
    const users = sourceFiles().filter((file) => readFileSync(path.join(ROOT, file), 'utf8').includes("from '@temporalio/activity'"));
    expect(users.filter((file) => !file.startsWith('activities/temporal/'))).toEqual([]);
  });
});
