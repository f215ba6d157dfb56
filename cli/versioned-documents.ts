/**
 * The put/list/show commands of a versioned, immutable document (label definitions,
 * monitoring policies): the same flags, help and output for each, the document's own
 * activities doing the work.
 */
import type { Command } from 'commander';
import type { Knex } from 'knex';
import { withDatabase } from './context';
import { readJsonFile } from './options';
import { createOutput, EXIT } from './output';

export interface VersionedDocumentCommands<Stored, Row, Document> {
  /** The command group (`label-definition`, `policy`) and its description. */
  name: string;
  description: string;
  put: {
    /** Describes the `<file>` argument. */
    file: string;
    description: string;
    store: (db: Knex, input: unknown, file: string) => Promise<Stored>;
    /** What put prints: the JSON document and the line without --json. */
    report: (stored: Stored) => { json: unknown; human: () => string };
    /** What put could not check yet, printed on stderr (the document is stored all the same). */
    warnings?: (stored: Stored) => string[];
  };
  list: {
    read: (db: Knex) => Promise<Row[]>;
    line: (row: Row) => string;
  };
  /** The document a NAME or NAME@VERSION reference names. */
  show: (db: Knex, ref: string) => Promise<Document>;
}

/** Registers the group with its put, list and show commands; returns the group for more. */
export function registerVersionedDocuments<Stored, Row, Document>(
  program: Command,
  setExit: (code: number) => void,
  spec: VersionedDocumentCommands<Stored, Row, Document>,
): Command {
  const group = program.command(spec.name).description(spec.description);
  group
    .command('put')
    .argument('<file>', spec.put.file)
    .option('--json', 'print one JSON document')
    .description(spec.put.description)
    .action(async (file: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const input = await readJsonFile(file);
      const stored = await withDatabase((db) => spec.put.store(db, input, file));
      for (const warning of spec.put.warnings?.(stored) ?? []) out.info(`${file}: warning: ${warning}`);
      const report = spec.put.report(stored);
      out.result(report.json, report.human);
      setExit(EXIT.ok);
    });
  group
    .command('list')
    .option('--json', 'print one JSON document')
    .action(async (options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const rows = await withDatabase((db) => spec.list.read(db));
      out.result(rows, () => rows.map((row) => spec.list.line(row)).join('\n'));
      setExit(EXIT.ok);
    });
  group
    .command('show')
    .argument('<ref>', 'NAME or NAME@VERSION')
    .option('--json', 'print one JSON document')
    .action(async (ref: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const document = await withDatabase((db) => spec.show(db, ref));
      out.result(document, () => JSON.stringify(document, null, 2));
      setExit(EXIT.ok);
    });
  return group;
}
