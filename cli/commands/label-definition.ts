import type { Command } from 'commander';
import { getLabelDefinition, listLabelDefinitions, putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { registerVersionedDocuments } from '../versioned-documents';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';

export function registerLabelDefinition(program: Command, setExit: (code: number) => void): void {
  registerVersionedDocuments(program, setExit, {
    name: 'label-definition',
    description: 'store, list and show versioned label definitions',
    put: {
      file: 'label definition JSON file',
      description: 'store a label definition version (immutable once stored)',
      store: putLabelDefinition,
      report: (result) => ({
        json: { outcome: result.outcome, name: result.definition.name, version: result.definition.version },
        human: () => `${result.definition.name}@${result.definition.version}: ${result.outcome}`,
      }),
    },
    list: {
      read: listLabelDefinitions,
      line: (row) => `${row.name}@${row.version}\t${row.model_name}\t${row.task}\t${row.changelog ?? ''}`,
    },
    show: (db, ref) => getLabelDefinition(db, parseLabelDefinitionRef(ref)),
  });
}
