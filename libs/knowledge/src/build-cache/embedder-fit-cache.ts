import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { canonicalJson } from '@rescue/domain';
import { KbDirectory, type KbManifest } from '../kb-directory';
import { buildCacheDir } from './screen-memo';

/** What an embedder needs to be restored instead of fitted: what it fits with, and how its saved model is read back. */
export interface EmbedderRefit<E extends { describe(): Record<string, unknown> } = { describe(): Record<string, unknown> }> {
  /** The fit's parameters and the code that fits (a model of other code or parameters is never reused). */
  identity(): string;
  /**
   * The model from its `embedder.json` text, as the fit made it (the same description, the same
   * vectors); `fingerprint`, the description's `sha256` when the caller holds it for these bytes.
   */
  fromJSON(json: string, fingerprint?: string): E;
}

const FORMAT = 'rescue-embedder-fit-1';
const fitFile = (kbDir: string): string => join(buildCacheDir(kbDir), 'embedder-fit.json');

/**
 * The model this process last published or read back, by the sha256 of its `embedder.json` bytes:
 * a long-lived process (the indexer worker, a build then a rebuild) that asks for the same model
 * again takes it from here instead of reading, hashing, parsing and decoding its file again
 * (45–60 ms of a +1% rebuild at 1×, over 9 MB of JSON holding base64). One model, the latest: what
 * it holds (the bytes and the model, ~20 MB at 1×) is what the build held anyway.
 */
let lastModel: { sha256: string; bytes: Buffer; embedder: { describe(): Record<string, unknown> } } | undefined;

/** Lets go of the model {@link rememberModel} kept: what a new process starts with. */
export function forgetModel(): void {
  lastModel = undefined;
}

/** Keeps `embedder`, whose `embedder.json` is `bytes` (sha256 `sha256`), for {@link reusedFit} in this process. */
export function rememberModel(sha256: string, bytes: Buffer, embedder: { describe(): Record<string, unknown> }): void {
  lastModel = { sha256, bytes, embedder };
}

/**
 * The model a version of this KB folder was fitted on the very same corpus with (`key`: a hash of
 * the fit's identity and every text it was fitted on), read back from that version's
 * `embedder.json`: a rebuild whose corpus did not change (nothing changed, or only what the fit
 * does not read) need not fit again, and the model is the one the fit would make. Nothing (and so
 * a fit) when the folder remembers another corpus, the version is gone, its file is not the one
 * its manifest's checksum names, or the model read back is not described as the manifest says.
 */
export async function reusedFit<E extends { describe(): Record<string, unknown> }>(
  kbDir: string,
  key: string,
  fromJSON: EmbedderRefit<E>['fromJSON'],
): Promise<{ embedder: E; bytes: Buffer; version: string } | undefined> {
  try {
    const remembered = JSON.parse(await readFile(fitFile(kbDir), 'utf8')) as { format?: unknown; key?: unknown; version?: unknown };
    if (remembered.format !== FORMAT || remembered.key !== key || typeof remembered.version !== 'string') return undefined;
    const kb = new KbDirectory(kbDir);
    // The model this process holds, when it is the version's (its bytes hash as the manifest says):
    // the key says it is the model this fit makes, whatever state the version's file is in now.
    const manifest = await kb.manifest(remembered.version);
    const held = lastModel;
    if (held && held.sha256 === manifest.checksums?.files['embedder.json'] && sameDescription(held.embedder, manifest)) {
      return { embedder: held.embedder as E, bytes: held.bytes, version: remembered.version };
    }
    const checked = await kb.checkedFile(remembered.version, 'embedder.json');
    if (!checked) return undefined;
    const text = checked.bytes;
    // The bytes are the version's (its checksum), so the manifest's fingerprint of them holds; the
    // rest of the description is still worked out from the model read back and compared.
    const sha256 = (manifest.embedder.params as Record<string, unknown> | undefined)?.sha256;
    const embedder = fromJSON(text.toString('utf8'), typeof sha256 === 'string' ? sha256 : undefined);
    if (!sameDescription(embedder, manifest)) return undefined;
    const fileSha256 = manifest.checksums?.files['embedder.json'];
    if (fileSha256) rememberModel(fileSha256, text, embedder);
    return { embedder, bytes: text, version: remembered.version };
  } catch (_unusable) {
    // No file yet, a version pruned, a damaged file or model: fitted again, which is always right.
    return undefined;
  }
}

const sameDescription = (embedder: { describe(): Record<string, unknown> }, manifest: KbManifest): boolean =>
  canonicalJson(JSON.parse(JSON.stringify(embedder.describe()))) === canonicalJson(manifest.embedder);

/** Remembers that `version`'s embedder was fitted on the corpus of `key` (one corpus: the latest build's). */
export async function rememberFit(kbDir: string, key: string, version: string): Promise<void> {
  const file = fitFile(kbDir);
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify({ format: FORMAT, key, version })}\n`);
}
