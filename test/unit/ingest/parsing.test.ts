import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../contracts/canonical-json';
import { formatCopyRow } from '../../../activities/ingest/copy-row';
import { parseCsv } from '../../../activities/ingest/parse-csv';
import { parseNdjson, type SourceRecord } from '../../../activities/ingest/parse-ndjson';
import { validateRecord } from '../../../activities/ingest/validate-record';

async function collect(batches: AsyncIterable<SourceRecord[]>): Promise<SourceRecord[]> {
  const records: SourceRecord[] = [];
  for await (const batch of batches) records.push(...batch);
  return records;
}

/** Feeds text in small pieces so records straddle chunk boundaries. */
function streamOf(text: string, pieceSize = 7): Readable {
  const buffer = Buffer.from(text, 'utf8');
  const pieces: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += pieceSize) pieces.push(buffer.subarray(i, i + pieceSize));
  return Readable.from(pieces);
}

describe('parseNdjson', () => {
  it('numbers records by physical line, skipping blank lines, dropping a BOM, accepting CRLF', async () => {
    const records = await collect(parseNdjson(streamOf('\uFEFF{"a":1}\r\n\n{"a":"é"}\n   \n{"a":3}')));
    expect(records.map((r) => [r.line, r.value])).toEqual([
      [1, { a: 1 }],
      [3, { a: 'é' }],
      [5, { a: 3 }],
    ]);
  });

  it('turns a malformed line into an error record and goes on', async () => {
    const records = await collect(parseNdjson(streamOf('{"a":1}\n{"a":\n{"a":3}\n')));
    expect(records[1]).toMatchObject({ line: 2, text: '{"a":', error: { field: null } });
    expect(records[1]!.error!.error).toMatch(/^malformed JSON/);
    expect(records[2]).toMatchObject({ line: 3, value: { a: 3 } });
  });

  it('rejects an over-long line without holding it, and reads on after its newline', async () => {
    const long = `{"a":"${'x'.repeat(100)}"}`;
    const batches: SourceRecord[] = [];
    for await (const batch of parseNdjson(streamOf(`{"a":1}\n${long}\n{"a":3}\n`, 16), 40)) batches.push(...batch);
    expect(batches.map((r) => [r.line, r.error ? 'error' : r.value])).toEqual([
      [1, { a: 1 }],
      [2, 'error'],
      [3, { a: 3 }],
    ]);
    expect(batches[1]!.error!.error).toMatch(/longer than 40 bytes/);
  });

  it('rejects exactly the lines that are not UTF-8, naming the byte, and keeps the others as sent', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"a":"ok"}\n{"a":"bad'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}\n{"a":"sent as U+FFFD \uFFFD and \u{1F600}"}\n{"a":"cut '),
      Buffer.from([0xe2, 0x82]),
      Buffer.from('"}\n{"a":4}'),
    ]);
    for (const pieceSize of [1, 3, 1 << 20]) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += pieceSize) pieces.push(bytes.subarray(i, i + pieceSize));
      const records = await collect(parseNdjson(Readable.from(pieces)));
      expect(records.map((r) => [r.line, r.error ? r.error.error : r.value])).toEqual([
        [1, { a: 'ok' }],
        [2, 'invalid UTF-8 at byte offset 9 of the line: text must be sent as UTF-8 and is stored as sent'],
        [3, { a: 'sent as U+FFFD \uFFFD and \u{1F600}' }],
        [4, 'invalid UTF-8 at byte offset 10 of the line: text must be sent as UTF-8 and is stored as sent'],
        [5, { a: 4 }],
      ]);
    }
  });
});

describe('parseCsv', () => {
  it('reads quoted fields with commas, quotes and newlines, and numbers rows by their first line', async () => {
    const csv = 'prediction_id,model_name,segment.device\np1,"fraud, v2","say ""hi""\nthere"\np2,plain,web\n';
    const records = await collect(parseCsv(streamOf(csv)));
    expect(records.map((r) => [r.line, r.value])).toEqual([
      [2, { prediction_id: 'p1', model_name: 'fraud, v2', segment: { device: 'say "hi"\nthere' } }],
      [4, { prediction_id: 'p2', model_name: 'plain', segment: { device: 'web' } }],
    ]);
  });

  it('nests dotted columns and types numbers and booleans where the schema wants them', async () => {
    const csv =
      '\uFEFFscore,is_exploration,entity_ids.transaction_id,entity_ids.user_id,features.amount,features.country,threshold\n0.25,true,007,u9,12.5,DE,\n';
    const [record] = await collect(parseCsv(streamOf(csv)));
    expect(record!.value).toEqual({
      score: 0.25,
      is_exploration: true,
      entity_ids: { transaction_id: '007', user_id: 'u9' },
      features: { amount: 12.5, country: 'DE' },
    });
  });

  it('leaves a non-numeric score a string so validation names it', async () => {
    const [record] = await collect(parseCsv(streamOf('score\nabc\n')));
    expect(record!.value).toEqual({ score: 'abc' });
  });

  it('reports a row with the wrong number of fields by line', async () => {
    const records = await collect(parseCsv(streamOf('a,b\n1,2\n1,2,3\n4,5\n')));
    expect(records.map((r) => [r.line, r.error ? 'error' : 'ok'])).toEqual([
      [2, 'ok'],
      [3, 'error'],
      [4, 'ok'],
    ]);
  });

  it('reads a whole JSON object from a plain object column', async () => {
    const [record] = await collect(parseCsv(streamOf('entity_ids\n"{""transaction_id"":""t1""}"\n')));
    expect(record!.value).toEqual({ entity_ids: { transaction_id: 't1' } });
  });

  it('reports an unclosed quote on the line where its record starts, not where the file ends', async () => {
    const records = await collect(parseCsv(streamOf('a,b\n1,2\n\n3,"x\n4,5\n6,7\n')));
    expect(records.map((r) => [r.line, r.error ? r.error.error : r.value])).toEqual([
      [2, { a: '1', b: '2' }],
      [4, expect.stringMatching(/^malformed CSV: Quote Not Closed/)],
    ]);
    expect(records[1]!.text).toBe('3,"x\n4,5\n6,7\n');
  });

  it('rejects exactly the records that are not UTF-8 and keeps multibyte text as sent', async () => {
    const bytes = Buffer.concat([Buffer.from('\uFEFFa,b\né,"😀\nü"\nx,'), Buffer.from([0xc3, 0x28]), Buffer.from('\nz,\uFFFD\n')]);
    for (const pieceSize of [1, 5, 1 << 20]) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += pieceSize) pieces.push(bytes.subarray(i, i + pieceSize));
      const records = await collect(parseCsv(Readable.from(pieces)));
      expect(records.map((r) => [r.line, r.error ? r.error.error : r.value])).toEqual([
        [2, { a: 'é', b: '😀\nü' }],
        [4, 'invalid UTF-8 at byte offset 2 of the record: text must be sent as UTF-8 and is stored as sent'],
        [5, { a: 'z', b: '\uFFFD' }],
      ]);
    }
  });
});

describe('formatCopyRow', () => {
  const base = {
    prediction_id: '7f1c7b6e-7c39-4d6f-9a57-6f6e1a0a0001',
    model_name: 'm',
    model_version: '1',
    ts_pred: '2026-11-01T10:00:00Z',
    score: 0.5,
  };
  const rowOf = (record: Record<string, unknown>) => {
    const checked = validateRecord('predictions', record, { receivedAt: '2026-11-02T00:00:00.000000Z' });
    if (!checked.ok) throw new Error(checked.error);
    return checked.row;
  };

  it('hashes equal content equally whatever the key order and explicit nulls', () => {
    const a = formatCopyRow('predictions', 1, rowOf({ ...base, entity_ids: { b: '2', a: '1' }, threshold: null }));
    const b = formatCopyRow('predictions', 9, rowOf({ entity_ids: { a: '1', b: '2' }, score: 0.5, ...base }));
    expect(a.contentHash).toBe(b.contentHash);
    expect(formatCopyRow('predictions', 1, rowOf({ ...base, score: 0.6 })).contentHash).not.toBe(a.contentHash);
  });

  it('escapes tabs, newlines and backslashes for COPY text', () => {
    const { text } = formatCopyRow('predictions', 3, rowOf({ ...base, model_name: 'a\tb\nc\\d' }));
    expect(text.split('\t')[2]).toBe('a\\tb\\nc\\\\d');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.slice(0, -1)).not.toContain('\n');
  });

  it('sorts object keys at every depth', () => {
    expect(canonicalJson({ b: { d: 1, c: [{ f: 1, e: 2 }] }, a: null })).toBe('{"a":null,"b":{"c":[{"e":2,"f":1}],"d":1}}');
  });
});
