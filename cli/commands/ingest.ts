import type { Command } from 'commander';
import { z } from 'zod';
import { describeForUser } from '../failure-messages';
import {
  emptyIngestResult,
  IngestAbortedError,
  ingestFile,
  type IngestProgress,
  type IngestResult,
} from '../../activities/ingest/ingest-records';
import { InputError } from '../../activities/ingest/open-input';
import { RECORD_KINDS } from '../../contracts/records';
import { usedEndpoints, withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, type Output, UsageError } from '../output';

const ingestOptionsSchema = z.object({
  rejects: z.string().min(1).optional(),
  format: z.enum(['ndjson', 'csv']).optional(),
  json: z.boolean().optional(),
  progress: z.boolean().optional(),
});

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * A one-line progress bar on stderr, redrawn at most ten times a second, and only on a
 * terminal: stdout stays the result document, and logs of piped runs stay clean.
 */
function createProgressBar(stream: NodeJS.WriteStream): { update(progress: IngestProgress): void; clear(): void } {
  const started = Date.now();
  let drawn = 0;
  let visible = false;
  return {
    update(progress) {
      const now = Date.now();
      if (now - drawn < 100) return;
      drawn = now;
      const seconds = Math.max((now - started) / 1000, 0.001);
      const rate = `${Math.round(progress.lines / seconds).toLocaleString('en-US')}/s`;
      let bar = '';
      if (progress.totalBytes) {
        const fraction = Math.min(progress.bytesRead / progress.totalBytes, 1);
        const width = 24;
        const filled = Math.round(fraction * width);
        bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% `;
      }
      const text =
        `${bar}${formatBytes(progress.bytesRead)}${progress.totalBytes ? `/${formatBytes(progress.totalBytes)}` : ''} ` +
        `${progress.lines.toLocaleString('en-US')} lines ${rate}`;
      stream.write(`\r${text.slice(0, (stream.columns || 120) - 1)}\x1b[K`);
      visible = true;
    },
    clear() {
      if (visible) stream.write('\r\x1b[K');
    },
  };
}

function describeResult(result: IngestResult): string {
  const lines = [
    `accepted ${result.accepted}, duplicates ${result.duplicates}, conflicts ${result.conflicts}, rejected ${result.rejected_count}`,
  ];
  for (const rejected of result.rejected.slice(0, 20)) lines.push(`  line ${rejected.line}: ${rejected.error}`);
  if (result.rejected_count > 20) lines.push(`  … ${result.rejected_count - 20} more rejected lines`);
  for (const conflict of result.conflicted.slice(0, 20)) lines.push(`  line ${conflict.line}: conflict: ${conflict.error}`);
  for (const unknown of result.unknown_fields) {
    lines.push(`warning: unknown field "${unknown.field}" on ${unknown.count} line(s), first line ${unknown.first_line}; kept in extra`);
  }
  if (result.rejects_file) lines.push(`rejected lines written to ${result.rejects_file}`);
  return lines.join('\n');
}

export function registerIngest(program: Command, setExit: (code: number) => void): void {
  program
    .command('ingest')
    .description('ingest predictions, outcomes or actions from NDJSON or CSV (plain or gzip), a file or - for stdin')
    .argument('<kind>', RECORD_KINDS.join('|'))
    .argument('<file>', 'NDJSON or CSV file, gzip or not; - reads standard input')
    .option('--rejects <path>', 'where to write rejected lines (default FILE.rejects.ndjson)')
    .option('--format <format>', 'ndjson|csv (default: from the file name, else from the first character)')
    .option('--no-progress', 'no progress bar even on a terminal')
    .option('--json', 'print one JSON document')
    .action(async (kind: string, file: string, rawOptions: unknown) => {
      const options = parseOptions(ingestOptionsSchema, rawOptions, 'ingest');
      const out = createOutput(Boolean(options.json));
      const bar = options.progress !== false && process.stderr.isTTY ? createProgressBar(process.stderr) : null;
      let result: IngestResult;
      try {
        if (!(RECORD_KINDS as readonly string[]).includes(kind))
          throw new UsageError(`ingest: kind must be one of ${RECORD_KINDS.join(', ')}, not "${kind}"`);
        result = await withDatabase((db) =>
          ingestFile(db, kind as (typeof RECORD_KINDS)[number], file, {
            ...(options.rejects ? { rejectsPath: options.rejects } : {}),
            ...(options.format ? { format: options.format } : {}),
            ...(bar ? { onProgress: (progress: IngestProgress) => bar.update(progress) } : {}),
          }),
        ).finally(() => bar?.clear());
      } catch (error) {
        throw reportFatal(out, error);
      }
      out.result(result, () => describeResult(result));
      setExit(result.rejected_count > 0 || result.conflicts > 0 ? EXIT.partial : EXIT.ok);
    });
}

/**
 * A fatal error still gets its result document (`fatal` first, then what was stored before
 * it), so a pipeline reading --json can tell what happened; returns the error to throw,
 * whose message says the same for a person (exit code 2).
 */
function reportFatal(out: Output, error: unknown): Error {
  const stored = error instanceof IngestAbortedError ? error.result : emptyIngestResult();
  const fatal = describeForUser(error, usedEndpoints());
  const byteOffset = error instanceof InputError && error.byteOffset !== null ? { byte_offset: error.byteOffset } : {};
  if (out.json) out.result({ fatal, ...byteOffset, ...stored }, () => '');
  const kept =
    stored.accepted + stored.duplicates + stored.conflicts + stored.rejected_count > 0
      ? `; before it stopped: accepted ${stored.accepted}, duplicates ${stored.duplicates}, conflicts ${stored.conflicts}, ` +
        `rejected ${stored.rejected_count} (re-running the same command is safe)`
      : '';
  const reported = new Error(`${fatal.startsWith('ingest: ') ? '' : 'ingest: '}${fatal}${kept}`, { cause: error });
  reported.name = error instanceof UsageError ? 'UsageError' : 'IngestError';
  return reported;
}
