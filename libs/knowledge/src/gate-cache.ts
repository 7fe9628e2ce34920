import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { DEFAULT_GATE_FIT, DEFAULT_GATE_SHAPE, type GateModel, type TermCounts, fitGate, gateFitFingerprint, ordinaryTaskTerms, validateGate } from '@rescue/retrieval';
import { sha256Hex } from '@rescue/domain';

/*
 * The relevance gate of an uncalibrated KB is fitted against the version's term counts and our
 * ordinary-task fixtures: about 50 ms of every open, a tenth of a CLI retrieval, for a result that
 * only changes with its inputs. So a folder KB keeps it under its cache folder, one file per
 * version (`cache/gates/<version>.json`), written when the version is published and whenever an
 * open finds it missing, stale or damaged. It is kept beside the version, not in it: a version
 * folder is immutable and checksummed, while the gate changes when Rescue's fixtures or fit do.
 *
 * What it must never do is change an answer, so the file carries the key of everything the fit
 * read (the fit's code and fixtures, see gateFitFingerprint, its options and shape, and the exact
 * term-counts text), and a checksum of the gate's JSON. A file for other inputs (stale) or one
 * that fails its checksum or does not read as a gate (damaged) is ignored with a message, and the
 * gate fitted and written again. A KB folder that cannot be written (read-only) fits at each open,
 * as before this cache.
 */

const FORMAT = 'rescue-gate-cache-1';

/** Where a KB folder keeps the fitted default gate of a version. */
// Under the folder's build caches (`cache/`, see buildCacheDir), spelled out: the screen memo that
// names it imports the datasets library, which a `rescue retrieve` does not load.
export const gateCachePath = (kbDir: string, version: string): string => join(kbDir, 'cache', 'gates', `${version}.json`);

interface GateCacheFile {
  format: typeof FORMAT;
  version: string;
  key: string;
  /** sha256 (hex) of `JSON.stringify(gate)`. */
  sha256: string;
  gate: GateModel;
}

/** The key of a default-gate fit against a version's term counts (the file's text, as read). */
export function gateCacheKey(termCountsText: string): string {
  return sha256Hex(JSON.stringify([FORMAT, gateFitFingerprint(), DEFAULT_GATE_FIT, DEFAULT_GATE_SHAPE, sha256Hex(termCountsText)]));
}

let ordinaryTerms: string[][] | undefined;

/** The default gate fitted on the spot (what an open without this cache did). */
export function fitDefaultGate(termCounts: TermCounts): GateModel {
  ordinaryTerms ??= ordinaryTaskTerms();
  return fitGate(ordinaryTerms, termCounts, DEFAULT_GATE_FIT, DEFAULT_GATE_SHAPE);
}

/** What reading a cached gate found: the gate, or why it cannot be used (`absent` says nothing). */
type CacheRead = { gate: GateModel } | { absent: true } | { problem: string };

async function readCachedGate(path: string, version: string, key: string): Promise<CacheRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    // ENOTDIR: something else stands where the gates folder goes; nothing could be cached there.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { absent: true };
    return { problem: `cannot be read (${(err as Error).message})` };
  }
  let file: GateCacheFile;
  try {
    file = JSON.parse(text) as GateCacheFile;
  } catch (err) {
    return { problem: `is damaged: not valid JSON (${(err as Error).message})` };
  }
  if (!file || typeof file !== 'object' || file.format !== FORMAT) return { problem: `is damaged: not a ${FORMAT} file` };
  if (file.version !== version) return { problem: `is damaged: it holds the gate of ${JSON.stringify(file.version)}, not of ${version}` };
  if (file.key !== key) return { problem: "is stale: it was fitted on other inputs (Rescue's ordinary-task fixtures or gate fit, or the version's term counts, changed since)" };
  if (file.sha256 !== sha256Hex(JSON.stringify(file.gate))) return { problem: 'is damaged: its gate does not match its checksum' };
  try {
    return { gate: validateGate(file.gate, path) };
  } catch (err) {
    return { problem: `is damaged: ${(err as Error).message}` };
  }
}

/** Tells what happened to a cached gate that could not be used (default: a line on stderr). */
export type GateCacheNotice = (message: string) => void;

const toStderr: GateCacheNotice = (m) => void process.stderr.write(`rescue: ${m}\n`);

/**
 * The default relevance gate of a folder KB's version: read from its cache when that was fitted on
 * these very inputs, else fitted and written there (best effort: an unwritable folder only costs
 * the fit again next time). A stale or damaged cache file is reported through `notice`.
 */
export async function cachedDefaultGate(kbDir: string, version: string, termCountsText: string, termCounts: TermCounts, notice: GateCacheNotice = toStderr): Promise<GateModel> {
  const path = gateCachePath(kbDir, version);
  const key = gateCacheKey(termCountsText);
  const read = await readCachedGate(path, version, key);
  if ('gate' in read) return read.gate;
  const gate = fitDefaultGate(termCounts);
  let written = true;
  try {
    const file: GateCacheFile = { format: FORMAT, version, key, sha256: sha256Hex(JSON.stringify(gate)), gate };
    await mkdir(dirname(path), { recursive: true });
    // Not fsynced: a file a crash left empty or cut short fails its checks above and is fitted again.
    await writeFileAtomic(path, JSON.stringify(file), { fsync: false });
  } catch (_unwritable) {
    // A read-only KB folder: the gate is fitted at each open, as it was before this cache.
    written = false;
  }
  if ('problem' in read)
    notice(`the relevance gate cached for KB version ${version} (${path}) ${read.problem}; fitted it again${written ? ' and replaced the file' : ' (the file could not be replaced)'}`);
  return gate;
}
