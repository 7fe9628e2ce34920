import { type Hash, createHash, hash } from 'node:crypto';
import { textSlices } from './text-slices';

/** Characters of a text hashed per update when it is long (see {@link updateWithText}). */
const UPDATE_CHARS = 1 << 16;

/**
 * SHA-256 of a text (its UTF-8 bytes), in hex or as bytes: in one call where the runtime has
 * `crypto.hash` (Node ≥ 20.12), else through a Hash object; the same digest either way. Builds
 * hash tens of thousands of small texts (cache keys, search texts), where making a Hash object
 * for each cost about as much as the hashing. A long text is hashed a slice at a time.
 */
export function sha256Hex(text: string): string {
  return typeof hash === 'function' && text.length <= UPDATE_CHARS ? hash('sha256', text) : updateWithText(createHash('sha256'), text).digest('hex');
}

/** {@link sha256Hex} as bytes. */
export function sha256Bytes(text: string): Buffer {
  return typeof hash === 'function' && text.length <= UPDATE_CHARS ? hash('sha256', text, 'buffer') : updateWithText(createHash('sha256'), text).digest();
}

/**
 * Feeds `text`'s UTF-8 bytes to `h` a slice at a time (see textSlices), the bytes one update of
 * the whole would: a long text (a cluster's JSON, the catalogue's) is never copied into one
 * UTF-8 buffer of megabytes, which on a VM cost more in fresh pages than the hashing.
 */
export function updateWithText(h: Hash, text: string): Hash {
  for (const slice of textSlices(text, UPDATE_CHARS)) h.update(slice, 'utf8');
  return h;
}
