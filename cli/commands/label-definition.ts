import type { Command } from 'commander';
import { getLabelDefinition, listLabelDefinitions, putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { withDatabase } from '../context';
import { readJsonFile } from '../options';
import { createOutput, EXIT } from '../output';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';

export function registerLabelDefinition(program: Command, setExit: (code: number) => void): void {
  const group = program.command('label-definition').description('store, list and show versioned label definitions');
  group
    .command('put')
    .argument('<file>', 'label definition JSON file')
    .option('--json', 'print one JSON document')
    .description('store a label definition version (immutable once stored)')
    .action(async (file: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const input = await readJsonFile(file);
      const result = await withDatabase((db) => putLabelDefinition(db, input, file));
      out.result(
        { outcome: result.outcome, name: result.definition.name, version: result.definition.version },
        () => `${result.definition.name}@${result.definition.version}: ${result.outcome}`,
      );
      setExit(EXIT.ok);
    });
  group
    .command('list')
    .option('--json', 'print one JSON document')
    .action(async (options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const rows = await withDatabase((db) => listLabelDefinitions(db));
      out.result(rows, () => rows.map((row) => `${row.name}@${row.version}\t${row.model_name}\t${row.task}\t${row.changelog ?? ''}`).join('\n'));
      setExit(EXIT.ok);
    });
  group
    .command('show')
    .argument('<ref>', 'NAME or NAME@VERSION')
    .option('--json', 'print one JSON document')
    .action(async (ref: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const definition = await withDatabase((db) => getLabelDefinition(db, parseLabelDefinitionRef(ref)));
      out.result(definition, () => JSON.stringify(definition, null, 2));
      setExit(EXIT.ok);
    });
}
