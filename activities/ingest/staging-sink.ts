import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { positionalQuery } from '../../sql/literal-bindings';
import { copyIntoStagingSql, insertIntoStagingSql } from '../../sql/ingest-merge';
import type { RecordKind } from '../../contracts/records';

/** Where a chunk's COPY text goes on its way into the staging table. */
export interface StagingSink {
  /** Takes COPY text (whole lines); returns a promise only when the caller must wait. */
  write(text: string): Promise<void> | undefined;
  end(): Promise<void>;
}

/** The fast path: a COPY FROM STDIN stream straight into the staging table. */
export function openCopySink(connection: pg.Client, kind: RecordKind): StagingSink {
  const copy = connection.query(copyFrom(copyIntoStagingSql(kind)));
  // The error is read by finished() at end(); without a listener an early COPY error would
  // crash the process instead.
  copy.on('error', () => {});
  // Settles once, when the COPY ends or fails; marked handled so a failure while nobody is
  // waiting on it surfaces at end() instead of as an unhandled rejection.
  const done = finished(copy);
  done.catch(() => {});
  return {
    write(text) {
      return copy.write(text) ? undefined : Promise.race([once(copy, 'drain'), done]).then(() => {});
    },
    async end() {
      copy.end();
      await done;
    },
  };
}

const UNESCAPE: Record<string, string> = { t: '\t', n: '\n', r: '\r', '\\': '\\' };
const INSERT_ROWS = 2000;

/** Reads one COPY text field back: `\N` is null, backslash escapes undone. */
function decodeCopyField(field: string): string | null {
  if (field === '\\N') return null;
  return field.includes('\\') ? field.replace(/\\(.)/g, (_, c: string) => UNESCAPE[c] ?? c) : field;
}

/**
 * For servers without COPY FROM STDIN (the embedded PGlite of `hindsight dev`): the same
 * rows, staged by set-based `insert … select from unnest(:c0::text[], …)` a few thousand
 * rows at a time, values bound as arrays.
 */
export function openInsertSink(connection: pg.Client, kind: RecordKind, columnCount: number): StagingSink {
  let columns: Array<Array<string | null>> = Array.from({ length: columnCount }, () => []);
  let rows = 0;
  let pending: Promise<unknown> = Promise.resolve();
  const flush = () => {
    if (rows === 0) return;
    const values = columns;
    columns = Array.from({ length: columnCount }, () => []);
    rows = 0;
    const bindings = Object.fromEntries(values.map((column, index) => [`c${index}`, column]));
    pending = pending.then(() => connection.query(positionalQuery(insertIntoStagingSql(kind), bindings)));
    // A failed insert surfaces at the next write that waits, or at end().
    pending.catch(() => {});
  };
  return {
    write(text) {
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const fields = line.split('\t');
        for (let i = 0; i < columnCount; i += 1) columns[i]!.push(decodeCopyField(fields[i] ?? '\\N'));
        rows += 1;
      }
      if (rows >= INSERT_ROWS) {
        flush();
        return pending.then(() => {});
      }
      return undefined;
    },
    async end() {
      flush();
      await pending;
    },
  };
}
