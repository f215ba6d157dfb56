import { isUtf8 } from 'node:buffer';

export type DecodedText = { ok: true; text: string } | { ok: false; offset: number; text: string };

/**
 * Decodes UTF-8 strictly: text is stored as sent or refused, never with U+FFFD put in
 * place of bytes that were not UTF-8. On failure, `offset` is the byte where the first
 * invalid sequence starts and `text` a lossy rendering for the rejects file.
 */
export function decodeUtf8(bytes: Uint8Array): DecodedText {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buffer.toString('utf8');
  if (isUtf8(buffer)) return { ok: true, text };
  // The prefix before the first replacement that the bytes do not spell is valid, so its
  // encoded length is the offset; a U+FFFD that was sent as EF BF BD is skipped.
  let offset = 0;
  let from = 0;
  for (let at = text.indexOf('\uFFFD'); at !== -1; at = text.indexOf('\uFFFD', at + 1)) {
    offset += Buffer.byteLength(text.slice(from, at));
    from = at + 1;
    if (buffer[offset] === 0xef && buffer[offset + 1] === 0xbf && buffer[offset + 2] === 0xbd) offset += 3;
    else break;
  }
  return { ok: false, offset, text };
}
