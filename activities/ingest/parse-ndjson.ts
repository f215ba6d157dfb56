import type { Readable } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { decodeUtf8 } from './decode-utf8';

/** Longest line (or CSV record) read, 64 MiB: far beyond any real record. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** One input record before validation: its line, its text, and its value or why it has none. */
export interface SourceRecord {
  line: number;
  text: string;
  value?: unknown;
  error?: { field: string | null; error: string };
}

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into NDJSON records numbered by physical line (1-based), so a
 * rejected record can be found in the file. Blank lines are skipped, a leading byte-order
 * mark is dropped, CRLF is accepted; a line that is not JSON, or not UTF-8, becomes an
 * error record instead of stopping the ingest. Yields the records of each input chunk
 * together: one await per chunk instead of per line matters at a million lines.
 *
 * Lines are split on bytes (a newline byte never occurs inside a UTF-8 sequence), and a
 * run of whole lines is decoded at once when it is valid UTF-8, the common case; only a
 * run that is not is decoded line by line, so one bad byte rejects one line.
 *
 * A line longer than `maxLineBytes` is rejected and skipped without being held in memory,
 * so a file without newlines cannot exhaust it.
 */
export async function* parseNdjson(stream: Readable, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<SourceRecord[]> {
  /** The bytes of the line not yet ended, kept as pieces so a long line is not copied per chunk. */
  let pieces: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  /** Inside an over-long line: everything up to its newline is dropped. */
  let skipping = false;
  const parseLine = (raw: string): SourceRecord | null => {
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
  /** Whole lines (ending with a newline, or at the end of input): decoded at once, or line by line when not UTF-8. */
  const parseLines = (bytes: Buffer, batch: SourceRecord[]): void => {
    if (isUtf8(bytes)) {
      const text = bytes.toString('utf8');
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        const record = parseLine(text.slice(start, end));
        start = end + 1;
        if (record) batch.push(record);
      }
      if (start < text.length) {
        const record = parseLine(text.slice(start));
        if (record) batch.push(record);
      }
      return;
    }
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.indexOf(NEWLINE, start);
      if (end === -1) end = bytes.length;
      const decoded = decodeUtf8(bytes.subarray(start, end));
      start = end + 1;
      if (decoded.ok) {
        const record = parseLine(decoded.text);
        if (record) batch.push(record);
      } else {
        line += 1;
        batch.push({
          line,
          text: decoded.text,
          error: {
            field: null,
            error: `invalid UTF-8 at byte offset ${decoded.offset} of the line: text must be sent as UTF-8 and is stored as sent`,
          },
        });
      }
    }
  };
  const holdPending = (bytes: Buffer, batch: SourceRecord[]): void => {
    if (skipping || bytes.length === 0) return;
    pieces.push(bytes);
    pendingBytes += bytes.length;
    if (pendingBytes > maxLineBytes) {
      line += 1;
      const head = decodeUtf8(Buffer.concat(pieces).subarray(0, 200)).text;
      batch.push({
        line,
        text: `${head}…`,
        error: { field: null, error: `line longer than ${maxLineBytes} bytes; a record must fit on one reasonable line` },
      });
      pieces = [];
      pendingBytes = 0;
      skipping = true;
    }
  };
  for await (const chunk of stream) {
    let bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    const batch: SourceRecord[] = [];
    if (skipping) {
      const end = bytes.indexOf(NEWLINE);
      if (end === -1) continue;
      skipping = false;
      bytes = bytes.subarray(end + 1);
    }
    const last = bytes.lastIndexOf(NEWLINE);
    if (last === -1) holdPending(bytes, batch);
    else {
      const whole = bytes.subarray(0, last + 1);
      parseLines(pieces.length > 0 ? Buffer.concat([...pieces, whole]) : whole, batch);
      pieces = [];
      pendingBytes = 0;
      holdPending(bytes.subarray(last + 1), batch);
    }
    if (batch.length > 0) yield batch;
  }
  if (skipping || pieces.length === 0) return;
  const batch: SourceRecord[] = [];
  parseLines(Buffer.concat(pieces), batch);
  if (batch.length > 0) yield batch;
}
