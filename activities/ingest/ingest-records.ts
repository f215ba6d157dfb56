import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { INGEST_TABLES } from '../../sql/ingest-tables';
import { describeFailure } from '../../sql/failure-message';
import { createBulkWriter, type StoreTally } from './bulk-writer';
import { formatCopyRow } from './copy-row';
import { openInput, type OpenedInput } from './open-input';
import { parseCsv } from './parse-csv';
import { parseNdjson, type SourceRecord } from './parse-ndjson';
import type { RecordKind } from '../../contracts/records';
import { loadScoreRangeCheck } from './score-ranges';
import { validateRecord } from './validate-record';
import { countIngested } from '../metrics/process-counters';

export interface RejectedLine {
  line: number;
  field: string | null;
  error: string;
}

/** The result document of one ingest (docs/ingestion.md), plus what it noticed. */
export interface IngestResult {
  accepted: number;
  duplicates: number;
  conflicts: number;
  /** The first {@link MAX_REPORTED_LINES} rejected lines; `rejected_count` counts them all. */
  rejected: RejectedLine[];
  rejected_count: number;
  /** Lines whose id was already stored with different content; the original was kept. */
  conflicted: Array<{ line: number; id: string; error: string }>;
  /** Fields no schema version knows: kept in `extra`, reported so a typo is seen. */
  unknown_fields: Array<{ field: string; count: number; first_line: number }>;
  rejects_file: string | null;
}

export type InputFormat = 'ndjson' | 'csv';

export interface IngestProgress {
  lines: number;
  bytesRead: number;
  totalBytes: number | null;
}

export interface IngestOptions {
  /** Where rejected lines go; default `FILE.rejects.ndjson` next to the input. */
  rejectsPath?: string;
  /** Default: from the file name (`.csv`, `.csv.gz`), else sniffed from the first byte. */
  format?: InputFormat;
  /** Called every few thousand lines; the command line draws its progress bar from it. */
  onProgress?: (progress: IngestProgress) => void;
  /** Rows per COPY + merge chunk (tests use small chunks to cross chunk boundaries). */
  chunkRows?: number;
  /** Force the staging path (see {@link createBulkWriter}); detected from the server otherwise. */
  staging?: 'copy' | 'insert';
}

/**
 * An ingest that stopped before the end of its input (unreadable input, the database gone):
 * `result` counts what was stored before, so a pipeline can tell what happened. The
 * message is safe to show: a database error is named by its SQLSTATE, never by its SQL.
 */
export class IngestAbortedError extends Error {
  override readonly name = 'IngestAbortedError';
  constructor(
    cause: unknown,
    readonly result: IngestResult,
  ) {
    super(describeFailure(cause), { cause });
  }
}

/** Keeps the result document bounded for multi-GB inputs; the rejects file has every line. */
export const MAX_REPORTED_LINES = 10_000;
const PROGRESS_EVERY = 4096;

/** Now, as a record timestamp (microseconds, UTC): the default `ts_received`. */
function receivedNow(): string {
  return new Date().toISOString().replace('Z', '000Z');
}

interface RejectsSink {
  write(entry: Record<string, unknown>): void;
  close(): Promise<string | null>;
}

/** Opens the rejects file only when the first line is rejected, and streams into it. */
function createRejectsSink(file: string | null): RejectsSink {
  let stream: WriteStream | null = null;
  let closed: string | null = null;
  return {
    write(entry) {
      if (!file || closed) return;
      stream ??= createWriteStream(file);
      stream.write(`${JSON.stringify(entry)}\n`);
    },
    async close() {
      if (!stream) return closed;
      const open = stream;
      stream = null;
      closed = file;
      open.end();
      await once(open, 'close');
      return file;
    },
  };
}

/** A result with nothing counted yet. */
export function emptyIngestResult(): IngestResult {
  return {
    accepted: 0,
    duplicates: 0,
    conflicts: 0,
    rejected: [],
    rejected_count: 0,
    conflicted: [],
    unknown_fields: [],
    rejects_file: null,
  };
}

/**
 * Validates and stores a stream of records, the one path every ingest takes (files,
 * standard input, HTTP): good records go to the bulk writer, bad ones are reported by
 * line and, with a rejects file, written there with their error and text.
 */
export async function ingestRecords(
  db: Knex,
  kind: RecordKind,
  batches: AsyncIterable<SourceRecord[]> | Iterable<SourceRecord[]>,
  options: IngestOptions & { rejectsFile?: string | null; progress?: () => Omit<IngestProgress, 'lines'> } = {},
): Promise<IngestResult> {
  const result = emptyIngestResult();
  const rejects = createRejectsSink(options.rejectsFile ?? null);
  const unknown = new Map<string, { field: string; count: number; first_line: number }>();
  const partitionColumn = INGEST_TABLES[kind].partitionColumn;
  const keyColumns = INGEST_TABLES[kind].key;
  const keyField = keyColumns.join('+');
  const describeConflict = (key: string) => `${keyField} ${key} is already stored with different content; the stored original was kept`;
  const checkScore = kind === 'predictions' ? await loadScoreRangeCheck(db) : null;
  const writer = createBulkWriter(db, kind, {
    ...(options.chunkRows ? { chunkRows: options.chunkRows } : {}),
    ...(options.staging ? { staging: options.staging } : {}),
    // Conflicts stream to the rejects file chunk by chunk; the document keeps the first ones.
    onStored: (chunk) => {
      for (const conflict of chunk.conflicts)
        rejects.write({ line: conflict.line, field: keyField, error: `conflict: ${describeConflict(conflict.key)}` });
    },
  });
  const receivedAt = receivedNow();
  const reject = (line: number, field: string | null, error: string, text: string) => {
    result.rejected_count += 1;
    if (result.rejected.length < MAX_REPORTED_LINES) result.rejected.push({ line, field, error });
    rejects.write({ line, field, error, input: text });
  };
  let lines = 0;
  const progress = () => options.onProgress?.({ lines, ...(options.progress?.() ?? { bytesRead: 0, totalBytes: null }) });
  try {
    for await (const batch of batches)
      for (const record of batch) {
        lines += 1;
        if (lines % PROGRESS_EVERY === 0) progress();
        if (record.error) {
          reject(record.line, record.error.field, record.error.error, record.text);
          continue;
        }
        const checked = validateRecord(kind, record.value, { receivedAt });
        if (!checked.ok) {
          reject(record.line, checked.field, checked.error, record.text);
          continue;
        }
        const scoreError = checkScore?.(checked.row);
        if (scoreError) {
          reject(record.line, 'score', scoreError, record.text);
          continue;
        }
        for (const field of checked.unknownFields) {
          const seen = unknown.get(field);
          if (seen) seen.count += 1;
          else if (unknown.size < 1000) unknown.set(field, { field, count: 1, first_line: record.line });
        }
        const { text } = formatCopyRow(kind, record.line, checked.row);
        const month = partitionColumn ? (checked.row[partitionColumn] as string).slice(0, 7) : null;
        const key =
          keyColumns.length === 1
            ? String(checked.row[keyColumns[0]!])
            : keyColumns.map((column) => String(checked.row[column])).join('\u0000');
        const wait = writer.write(text, month, key);
        if (wait) await wait;
      }
  } catch (error) {
    // What was read before the failure is still stored (every line is idempotent), then
    // the failure surfaces with what was kept: re-running counts that part as duplicates.
    await writer.close().catch(() => {});
    throw new IngestAbortedError(error, await summarize(writer.stored()));
  }
  let stored: StoreTally;
  try {
    stored = await writer.close();
  } catch (error) {
    throw new IngestAbortedError(error, await summarize(writer.stored()));
  }
  return summarize(stored);

  async function summarize(stored: StoreTally): Promise<IngestResult> {
    result.accepted = stored.accepted;
    result.duplicates = stored.duplicates;
    result.conflicts = stored.conflictCount;
    result.conflicted = stored.conflicts
      .slice(0, MAX_REPORTED_LINES)
      .map((conflict) => ({ line: conflict.line, id: conflict.key, error: describeConflict(conflict.key) }));
    result.unknown_fields = [...unknown.values()];
    result.rejects_file = await rejects.close();
    countIngested(kind, result);
    progress();
    return result;
  }
}

/** Picks the format from the file name, else from the first non-blank character. */
async function detectFormat(input: OpenedInput): Promise<{ format: InputFormat; stream: Readable }> {
  if (/\.csv(\.gz)?$/i.test(input.name)) return { format: 'csv', stream: input.stream };
  if (/\.(nd)?jsonl?(\.gz)?$/i.test(input.name)) return { format: 'ndjson', stream: input.stream };
  const chunks = input.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const seen: Buffer[] = [];
  let first: string | undefined;
  let ended = false;
  while (first === undefined) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    seen.push(next.value);
    first = /[^\s\uFEFF]/.exec(next.value.toString('utf8'))?.[0];
  }
  async function* replay(): AsyncGenerator<Buffer> {
    yield* seen;
    if (ended) return;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return {
    format: first === undefined || first === '{' || first === '[' ? 'ndjson' : 'csv',
    stream: Readable.from(replay(), { objectMode: false }),
  };
}

/** Default rejects file: next to the input, or in the working directory for standard input. */
export function defaultRejectsPath(file: string): string {
  if (file === '-') return path.resolve(`stdin-${new Date().toISOString().replace(/[:.]/g, '-')}.rejects.ndjson`);
  return `${file.replace(/\.gz$/i, '')}.rejects.ndjson`;
}

/**
 * Ingests a file (`-` for standard input), NDJSON or CSV, plain or gzip, streamed in
 * constant memory. Bad lines are reported and written to the rejects file; good ones stored.
 */
export async function ingestFile(db: Knex, kind: RecordKind, file: string, options: IngestOptions = {}): Promise<IngestResult> {
  const input = await openInput(file);
  const detected = options.format ? { format: options.format, stream: input.stream } : await detectFormat(input);
  const records = detected.format === 'csv' ? parseCsv(detected.stream) : parseNdjson(detected.stream);
  return ingestRecords(db, kind, records, {
    ...options,
    rejectsFile: options.rejectsPath ?? defaultRejectsPath(file),
    progress: () => ({ bytesRead: input.bytesRead(), totalBytes: input.totalBytes }),
  });
}

/** Ingests an NDJSON file (the sample cohort and tests use it); see {@link ingestFile}. */
export async function ingestNdjsonFile(db: Knex, kind: RecordKind, file: string, options: IngestOptions = {}): Promise<IngestResult> {
  return ingestFile(db, kind, file, { format: 'ndjson', ...options });
}
