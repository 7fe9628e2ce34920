import { createHash, hash } from 'node:crypto';

/**
 * SHA-256 of a text (its UTF-8 bytes), in hex or as bytes: in one call where the runtime has
 * `crypto.hash` (Node ≥ 20.12), else through a Hash object; the same digest either way. Builds
 * hash tens of thousands of small texts (cache keys, search texts), where making a Hash object
 * for each cost about as much as the hashing.
 */
export function sha256Hex(text: string): string {
  return typeof hash === 'function' ? hash('sha256', text) : createHash('sha256').update(text, 'utf8').digest('hex');
}

/** {@link sha256Hex} as bytes. */
export function sha256Bytes(text: string): Buffer {
  return typeof hash === 'function' ? hash('sha256', text, 'buffer') : createHash('sha256').update(text, 'utf8').digest();
}
