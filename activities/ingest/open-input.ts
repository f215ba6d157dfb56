import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
  /** Where in the (compressed) input the problem was found, when it has a place. */
  readonly byteOffset: number | null;
  constructor(message: string, byteOffset: number | null = null) {
    super(message);
    this.byteOffset = byteOffset;
  }
}

/**
 * Inflates a whole gzip input once, keeping nothing, and throws if any of it is damaged.
 * gzip checks its CRC only at the end, and a damaged block can inflate to plausible lines
 * first, so nothing is stored from a gzip input until all of it has been read back intact.
 */
async function verifyGzip(file: string, shownAs: string, size: number): Promise<void> {
  const gunzip = createGunzip();
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  try {
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), gunzip, discard);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!code.startsWith('Z_')) throw new InputError(`cannot read ${shownAs}: ${(error as Error).message}`);
    const at = Math.min(gunzip.bytesWritten, size);
    throw new InputError(
      `${shownAs} is damaged gzip (${(error as Error).message}), found at compressed byte ${at} of ${size}; nothing was stored`,
      at,
    );
  }
}

/** Standard input can be read once: gzip on it is kept in a private temporary file to be verified, then read. */
async function spoolToTemporaryFile(chunks: AsyncIterable<Buffer>): Promise<{ file: string; size: number; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-stdin-'));
  const file = path.join(dir, 'stdin.gz');
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    await pipeline(Readable.from(chunks), createWriteStream(file, { mode: 0o600 }));
    return { file, size: (await stat(file)).size, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * Opens a file, or standard input for `-`, and gunzips it when its first two bytes are
 * the gzip magic number: the extension may lie, standard input has none. Streams, so a
 * multi-GB input is read in constant memory. A gzip input is verified to its end first
 * (see {@link verifyGzip}): a damaged one is refused whole, before anything is stored.
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
  if (!gzip) return { name: file, stream: Readable.from(replay(), { objectMode: false }), gzip, totalBytes, bytesRead: () => read };
  let compressed = file;
  let removeSpool: (() => Promise<void>) | null = null;
  if (file === '-') {
    const spool = await spoolToTemporaryFile(replay());
    ({ file: compressed, size: totalBytes, remove: removeSpool } = spool);
  } else source.destroy();
  try {
    await verifyGzip(compressed, file === '-' ? 'standard input' : file, totalBytes!);
  } catch (error) {
    await removeSpool?.();
    throw error;
  }
  read = 0;
  const raw = createReadStream(compressed, { highWaterMark: 1 << 20 });
  raw.on('data', (chunk) => (read += chunk.length));
  // Already open, so the spooled file can go now; the data stays readable until closed.
  if (removeSpool) raw.once('open', () => void removeSpool!());
  // Errors must reach the consumer: an input that changed since it was verified must fail, not end quietly.
  const gunzip = createGunzip();
  raw.on('error', (error) => gunzip.destroy(error));
  return { name: file, stream: raw.pipe(gunzip), gzip, totalBytes, bytesRead: () => read };
}
