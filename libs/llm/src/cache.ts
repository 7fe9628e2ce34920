import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { InvalidInputError, type JsonValue, canonicalJson } from '@rescue/domain';

/**
 * Where LLM answers are kept between runs (style.md C18). Keys come from {@link llmCacheKey}.
 * Implementations must tolerate concurrent writers of the same key: both write the same value,
 * because the key is a hash of everything that determines it.
 */
export interface LlmCache {
  /** The stored value, or undefined on a miss (including an unreadable entry). */
  get(key: string): Promise<JsonValue | undefined>;
  set(key: string, value: JsonValue): Promise<void>;
}

/** What identifies one LLM answer. */
export interface LlmCacheKeyParts {
  model: string;
  /** `templateId@vN` for template calls, or an ad-hoc label such as `adhoc:chat`. */
  template: string;
  /** Everything else that was sent and shapes the answer (messages, sampling settings, schema). */
  input: JsonValue;
}

/** Bumped when the key derivation changes, so old entries stop matching instead of being misread. */
const KEY_FORMAT = 1;

/** sha256 (hex) of the canonical JSON of (key format, model, template, input). */
export function llmCacheKey(parts: LlmCacheKeyParts): string {
  return createHash('sha256')
    .update(canonicalJson({ k: KEY_FORMAT, model: parts.model, template: parts.template, input: parts.input }))
    .digest('hex');
}

/** An in-process cache, for tests and one-shot CLI runs. Evicts the oldest entry beyond `maxEntries`. */
export class MemoryLlmCache implements LlmCache {
  private readonly entries = new Map<string, string>();

  constructor(private readonly maxEntries = 10_000) {}

  async get(key: string): Promise<JsonValue | undefined> {
    const text = this.entries.get(key);
    // Stored as text so a caller mutating a returned object cannot change the cached one.
    return text === undefined ? undefined : (JSON.parse(text) as JsonValue);
  }

  async set(key: string, value: JsonValue): Promise<void> {
    this.entries.delete(key);
    this.entries.set(key, JSON.stringify(value));
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Number of entries held. */
  get size(): number {
    return this.entries.size;
  }
}

const KEY_PATTERN = /^[0-9a-f]{64}$/;

/**
 * One JSON file per key under `dir/<first two hex digits>/<key>.json`, written atomically
 * (write-file-atomic: a temp file renamed over the target), so a reader sees either no entry or a
 * whole one, even when a worker dies mid-write or two workers write the same key.
 */
export class FsLlmCache implements LlmCache {
  constructor(readonly dir: string) {}

  async get(key: string): Promise<JsonValue | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathOf(key), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch (err) {
      // A corrupt entry (a damaged disk, a hand edit) is a miss: the call is made again and rewrites it.
      if (err instanceof SyntaxError) return undefined;
      throw err;
    }
    if (typeof entry !== 'object' || entry === null) return undefined;
    const { key: stored, value } = entry as { key?: unknown; value?: JsonValue };
    // An entry whose recorded key differs was copied or renamed by hand: treat as a miss.
    return stored === key ? value : undefined;
  }

  async set(key: string, value: JsonValue): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(join(this.dir, key.slice(0, 2)), { recursive: true });
    await writeFileAtomic(target, JSON.stringify({ key, storedAt: new Date().toISOString(), value }));
  }

  private pathOf(key: string): string {
    // Keys are hashes; anything else could name a path outside the cache directory.
    if (!KEY_PATTERN.test(key)) throw new InvalidInputError('LLM cache keys must be 64 lowercase hex digits');
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }
}

/** Builds the cache a setting names (undefined for `none`). */
export function createLlmCache(settings: { kind: 'none' | 'memory' | 'fs'; dir: string }): LlmCache | undefined {
  if (settings.kind === 'memory') return new MemoryLlmCache();
  if (settings.kind === 'fs') return new FsLlmCache(settings.dir);
  return undefined;
}

function isNotFound(err: unknown): boolean {
  // Duck-typed: fs errors are not `instanceof Error` when they come from another realm (jest's vm).
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}
