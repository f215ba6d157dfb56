import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

/** Longest NDJSON line read (64 Mi characters): far beyond any real record. */
export const MAX_LINE_CHARS = 64 * 1024 * 1024;

/** One input record before validation: its line, its text, and its value or why it has none. */
export interface SourceRecord {
  line: number;
  text: string;
  value?: unknown;
  error?: { field: string | null; error: string };
}

/**
 * Splits a byte stream into NDJSON records numbered by physical line (1-based), so a
 * rejected record can be found in the file. Blank lines are skipped, a leading byte-order
 * mark is dropped, CRLF is accepted; a line that is not JSON becomes an error record
 * instead of stopping the ingest. Yields the records of each input chunk together: one
 * await per chunk instead of per line matters at a million lines.
 *
 * A line longer than `maxLineChars` is rejected and skipped without being held in memory,
 * so a file without newlines cannot exhaust it.
 */
export async function* parseNdjson(stream: Readable, maxLineChars = MAX_LINE_CHARS): AsyncGenerator<SourceRecord[]> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let line = 0;
  /** Inside an over-long line: everything up to its newline is dropped. */
  let skipping = false;
  const tooLong = (): SourceRecord => {
    line += 1;
    return { line, text: `${pending.slice(0, 200)}…`, error: { field: null, error: `line longer than ${maxLineChars} characters; a record must fit on one reasonable line` } };
  };
  const toRecord = (raw: string): SourceRecord | null => {
    line += 1;
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') return null;
    try {
      return { line, text, value: JSON.parse(text) };
    } catch (error) {
      return { line, text, error: { field: null, error: `malformed JSON: ${(error as Error).message}` } };
    }
  };
  for await (const chunk of stream) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer);
    let start = 0;
    const batch: SourceRecord[] = [];
    if (skipping) {
      const end = pending.indexOf('\n');
      if (end === -1) {
        pending = '';
        continue;
      }
      skipping = false;
      start = end + 1;
    }
    for (let end = pending.indexOf('\n', start); end !== -1; end = pending.indexOf('\n', start)) {
      const record = toRecord(pending.slice(start, end));
      start = end + 1;
      if (record) batch.push(record);
    }
    pending = pending.slice(start);
    if (pending.length > maxLineChars) {
      batch.push(tooLong());
      pending = '';
      skipping = true;
    }
    if (batch.length > 0) yield batch;
  }
  pending += decoder.end();
  if (skipping) return;
  if (pending.length > 0) {
    const record = toRecord(pending);
    if (record) yield [record];
  }
}
