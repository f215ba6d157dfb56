import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** An input opened for streaming: its bytes (gunzipped when needed) and how far it has been read. */
export interface OpenedInput {
  /** `-` for standard input, otherwise the path. */
  name: string;
  stream: Readable;
  gzip: boolean;
  /** Size on disk (compressed), when known; standard input has none. */
  totalBytes: number | null;
  /** Bytes of the (compressed) input consumed so far, for the progress bar. */
  bytesRead(): number;
}

export class InputError extends Error {
  override readonly name = 'InputError';
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * Opens a file, or standard input for `-`, and gunzips it when its first two bytes are
 * the gzip magic number: the extension may lie, standard input has none. Streams, so a
 * multi-GB input is read in constant memory.
 */
export async function openInput(file: string, stdin: Readable = process.stdin): Promise<OpenedInput> {
  let totalBytes: number | null = null;
  let source: Readable;
  if (file === '-') source = stdin;
  else {
    const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
      throw new InputError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
    });
    if (!info.isFile()) throw new InputError(`cannot read ${file}: not a regular file`);
    totalBytes = info.size;
    source = createReadStream(file, { highWaterMark: 1 << 20 });
  }
  let read = 0;
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Enough bytes to see the magic number (standard input may deliver one byte at a time).
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < GZIP_MAGIC.length) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    read += next.value.length;
    head = Buffer.concat([head, next.value]);
  }
  const gzip = head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (ended) return;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      read += next.value.length;
      yield next.value;
    }
  }
  const raw = Readable.from(replay(), { objectMode: false });
  let stream: Readable = raw;
  if (gzip) {
    // Errors must reach the consumer: a truncated input must fail, not end quietly.
    const gunzip = createGunzip();
    raw.on('error', (error) => gunzip.destroy(error));
    stream = raw.pipe(gunzip);
  }
  return { name: file, stream, gzip, totalBytes, bytesRead: () => read };
}
