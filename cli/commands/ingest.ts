import type { Command } from 'commander';
import { ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { RECORD_KINDS, type RecordKind } from '../../activities/ingest/record-schemas';
import { withDatabase } from '../context';
import { createOutput, EXIT, UsageError } from '../output';

export function registerIngest(program: Command, setExit: (code: number) => void): void {
  program
    .command('ingest')
    .description('ingest predictions, outcomes or actions from an NDJSON file')
    .argument('<kind>', RECORD_KINDS.join('|'))
    .argument('<file>', 'NDJSON file')
    .option('--rejects <path>', 'where to write rejected lines (default FILE.rejects.ndjson)')
    .option('--json', 'print one JSON document')
    .action(async (kind: string, file: string, options: { rejects?: string; json?: boolean }) => {
      if (!(RECORD_KINDS as readonly string[]).includes(kind)) throw new UsageError(`ingest: kind must be one of ${RECORD_KINDS.join(', ')}, not "${kind}"`);
      const out = createOutput(Boolean(options.json));
      const result = await withDatabase((db) => ingestNdjsonFile(db, kind as RecordKind, file, options.rejects ? { rejectsPath: options.rejects } : {}));
      const { conflicted: _conflicted, ...document } = result;
      out.result(document, () => {
        const lines = [`accepted ${result.accepted}, duplicates ${result.duplicates}, conflicts ${result.conflicts}, rejected ${result.rejected.length}`];
        for (const rejected of result.rejected.slice(0, 20)) lines.push(`  line ${rejected.line}: ${rejected.error}`);
        if (result.rejects_file) lines.push(`rejected lines written to ${result.rejects_file}`);
        return lines.join('\n');
      });
      setExit(result.rejected.length > 0 || result.conflicts > 0 ? EXIT.partial : EXIT.ok);
    });
}
