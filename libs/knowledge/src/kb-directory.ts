import { type Hash, createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
// The modules, not the library's index (its ingestors and zod schemas): `rescue retrieve` loads this file.
import { type ExclusiveLockOptions, withExclusiveLock } from '@rescue/datasets/exclusive-lock';
import { readTextIfExists } from '@rescue/datasets/optional-file';
import { InvalidInputError, NotFoundError, canonicalJson } from '@rescue/domain';
import { type ExampleSource, asExampleSource } from './example-source';
import { gateCachePath } from './gate-cache';
import type { CodeExample, CweNode, KnowledgeDocument } from './kb-model';
import { TextFileWriter } from './text-file-writer';

/** What a KB version says about itself. */
export interface KbManifest {
  version: string;
  createdAt: string;
  clusterBy: string;
  counts: { nodes: number; catalogOnlyNodes: number; examples: number; records: number; documents?: number };
  /** What the KB was built from: examples by source and language, documents by kind. */
  sources?: { examples: Record<string, Record<string, number>>; documents: Record<string, number> };
  /** The paths the build read (as the builder saw them): evaluation rebuilds its naive baselines from them. */
  inputs?: { sources: string[]; catalog?: string };
  /** The analyzer of the term columns: queries must use the same one. */
  searchTerms?: number;
  /** The embedder's identity and parameters: queries must use the same one. */
  embedder: Record<string, unknown>;
  distillation: { mode: string; model?: string; llmCalls: number; llmCallsCached: number };
  slicer: { version: string; hops: number };
  /**
   * sha256 of every file of the version folder (LanceDB tables file by file), and of this manifest
   * without `checksums.manifest`: what `rescue kb verify`, readers and the next publish check.
   * Metadata only: the version id is a hash of the content and does not include them.
   */
  checksums?: KbChecksums;
}

export interface KbChecksums {
  algorithm: 'sha256';
  /** Path inside the version folder (with `/`) → hex digest; every file but manifest.json. */
  files: Record<string, string>;
  /** The digest of the manifest's canonical JSON with this field left out. */
  manifest: string;
}

/** One thing wrong with a KB version: the file (absolute path) and what. */
export interface KbProblem {
  file: string;
  problem: string;
}

/** What checking a version against its checksums found. */
export interface KbVerification {
  root: string;
  version: string;
  ok: boolean;
  /** Files hashed, and their bytes. */
  files: number;
  bytes: number;
  problems: KbProblem[];
  /** The manifest, when it could be read. */
  manifest?: KbManifest;
}

/** A KB version that fails verification: each bad file is named in the message and in `problems`. */
export class KbIntegrityError extends InvalidInputError {
  constructor(
    readonly verification: KbVerification,
    what = 'fails verification',
  ) {
    super(
      `KB version ${verification.version} in ${verification.root} ${what}: ${verification.problems.map((p) => `${p.file}: ${p.problem}`).join('; ')}. ` +
        'Rebuild it with "rescue kb build" (a broken copy is replaced), or point CURRENT at a sound version',
    );
  }
}

/** How a publish waits for another build of the same folder. */
export interface PublishOptions {
  /** How long to wait for another build's lock (default 10 minutes), then fail saying who holds it. */
  lockWaitMs?: number;
  /** Told once when another build holds the lock (default: a line on stderr). */
  onLockWait?: (message: string) => void;
}

export interface KbVersionContent {
  manifest: Omit<KbManifest, 'version' | 'createdAt'>;
  nodes: CweNode[];
  /** A list, or a source read pass by pass (the version id, then `examples.jsonl`). */
  examples: CodeExample[] | ExampleSource;
  documents?: KnowledgeDocument[];
}

const CURRENT = 'CURRENT';

/** Versions under construction (or left by a killed build) are `versions/.tmp-*`. */
const TEMPORARY = '.tmp-';

/**
 * Bytes read per call when hashing a file, and files hashed side by side. A version is hashed
 * whole when it is written and again before CURRENT moves. Read through a stream (64 KiB a call,
 * each a round trip to the file system's threads), its 26 MB at 1× took 50–90 ms a pass; a file
 * at a time in 4 MB reads, each into a new buffer, this thread still waited on every read: ~130 ms
 * of a +1% rebuild for the two passes over 43 MB, 80 of them idle. Now three files are read at
 * once, each reader reusing one buffer: while one read is waited on, another file's bytes are hashed.
 */
const HASH_READ_BYTES = 1 << 20;
const HASH_FILES_AT_ONCE = 3;

/** Each file's sha256 (hex) and size, in the order given; the first read error is thrown once every file is done with. */
async function sha256OfFiles(paths: readonly string[]): Promise<{ digest: string; bytes: number }[]> {
  const out: { digest: string; bytes: number }[] = new Array(paths.length);
  let next = 0;
  const reader = async (): Promise<void> => {
    let buf: Buffer | undefined;
    while (next < paths.length) {
      const i = next++;
      const h = createHash('sha256');
      let bytes = 0;
      // A chunk at a time: LanceDB data files can be large, and a version is hashed whole.
      const file = await open(paths[i], 'r');
      try {
        // Grown to the largest read any of its files needs (a small file first must not leave it small).
        const want = Math.max(1, Math.min(HASH_READ_BYTES, (await file.stat()).size));
        if (!buf || buf.length < want) buf = Buffer.allocUnsafe(want);
        for (;;) {
          const { bytesRead } = await file.read(buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          bytes += bytesRead;
          h.update(buf.subarray(0, bytesRead));
        }
      } finally {
        await file.close();
      }
      out[i] = { digest: h.digest('hex'), bytes };
    }
  };
  const failed = (await Promise.allSettled(Array.from({ length: Math.min(HASH_FILES_AT_ONCE, paths.length) }, reader))).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return out;
}

/** Every file under `dir`, as sorted `/`-separated relative paths (LanceDB tables are folders). */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await filesUnder(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** The digest a manifest records of itself: its canonical JSON without `checksums.manifest`. */
function manifestDigest(manifest: KbManifest): string {
  const { checksums, ...rest } = manifest;
  const withoutSelf = checksums ? { ...rest, checksums: { algorithm: checksums.algorithm, files: checksums.files } } : rest;
  // Through JSON first, as the manifest is stored: undefined members and key order do not count.
  return createHash('sha256')
    .update(canonicalJson(JSON.parse(JSON.stringify(withoutSelf))))
    .digest('hex');
}

/**
 * Verifications by version folder, so a long-lived reader and the readiness probe hash a version
 * once, not per request. Keyed by the manifest file's identity too: a version replaced in place
 * (a broken copy rebuilt) is checked again.
 */
const verified = new Map<string, Promise<KbVerification>>();

function buildLockOptions(options: PublishOptions): ExclusiveLockOptions {
  return {
    purpose: 'build',
    waitMs: options.lockWaitMs ?? 10 * 60_000,
    // A library printing is the exception: without it a build waiting on another looks hung.
    onWait: options.onLockWait ?? ((m: string) => void process.stderr.write(`rescue: ${m}\n`)),
  };
}

/** Bumped when what a version folder holds changes (index columns), so old folders are not reused. */
export const KB_FORMAT = 'kb-format-4';

const isList = (items: readonly unknown[] | ExampleSource): items is readonly unknown[] => Array.isArray(items);

/**
 * One JSON document per line, each line ended by a newline (an empty list is one empty line), as
 * `items.map(JSON.stringify).join('\n') + '\n'` would write it, but a piece at a time (see
 * TextFileWriter): the examples' JSON grows with the records, and as one string it would double,
 * for a while, the memory the examples already take.
 */
async function writeJsonLines(path: string, items: readonly unknown[] | ExampleSource, json: (item: unknown) => string = JSON.stringify): Promise<void> {
  const file = await open(path, 'w');
  try {
    const out = new TextFileWriter(file);
    let written = 0;
    // A list is one batch; a source's batches are read as they come, never all at once.
    for await (const batch of isList(items) ? [items] : items.batches()) {
      for (const item of batch) {
        await out.write(json(item));
        await out.write('\n');
      }
      written += batch.length;
    }
    if (written === 0) await out.write('\n');
    await out.end();
  } finally {
    await file.close();
  }
}

/**
 * Each item's JSON, made once for a publish: the version id hashes every node's, example's and
 * document's JSON, and the version's files are that JSON line by line (at 1× serializing the
 * examples took 30–50 ms each time). Only items of lists are kept, which the publish holds anyway;
 * a source's items are new objects on each pass, and their JSON is not kept.
 */
class JsonOnce {
  private readonly made = new WeakMap<object, string>();

  /** `item`'s JSON; kept for the next call when `keep`. */
  of(item: unknown, keep: boolean): string {
    if (typeof item !== 'object' || item === null) return JSON.stringify(item);
    let json = this.made.get(item);
    if (json === undefined) {
      json = JSON.stringify(item);
      if (keep) this.made.set(item, json);
    }
    return json;
  }
}

/**
 * The embedded KB: immutable versions under `versions/<id>/`, and a `CURRENT` pointer file
 * replaced by rename, so publishing is atomic and a failed build leaves the old version serving.
 * A version id is a hash of its content: building the same KB twice publishes the same version.
 */
export class KbDirectory {
  constructor(readonly root: string) {}

  /** The build lock: one build (or CURRENT switch) in this folder at a time. */
  lockPath(): string {
    return join(this.root, '.lock');
  }

  versionDir(version: string): string {
    if (!/^kb-[0-9a-f]{16}$/.test(version)) throw new InvalidInputError(`not a KB version id: ${JSON.stringify(version)}`);
    return join(this.root, 'versions', version);
  }

  static versionOf(content: KbVersionContent & { examples: CodeExample[] }): string {
    const h = KbDirectory.versionHash(content);
    for (const e of content.examples) h.update(JSON.stringify(e));
    return KbDirectory.versionDigest(h, content);
  }

  /** {@link versionOf} of content whose examples may be a source, read in one pass. */
  static async versionOfContent(content: KbVersionContent, json = new JsonOnce()): Promise<string> {
    const h = KbDirectory.versionHash(content, json);
    const kept = isList(content.examples);
    for await (const batch of asExampleSource(content.examples).batches()) for (const e of batch) h.update(json.of(e, kept));
    return KbDirectory.versionDigest(h, content, json);
  }

  /** The version hash up to the examples: the format, the embedder, the slicer, the nodes. */
  private static versionHash(content: KbVersionContent, json = new JsonOnce()): Hash {
    const h = createHash('sha256');
    h.update(KB_FORMAT);
    h.update(JSON.stringify(content.manifest.embedder));
    h.update(JSON.stringify(content.manifest.slicer));
    for (const n of content.nodes) h.update(json.of(n, true));
    return h;
  }

  /** The version id: the hash after the examples, with the documents. */
  private static versionDigest(h: Hash, content: KbVersionContent, json = new JsonOnce()): string {
    for (const d of content.documents ?? []) h.update(json.of(d, true));
    return `kb-${h.digest('hex').slice(0, 16)}`;
  }

  /**
   * Writes a version into a temporary folder, lets `extra` add files (index tables, embedder
   * model), records every file's checksum in the manifest, renames it into place, then moves the
   * pointer. Keeps the newest `keep` versions.
   *
   * One build publishes into a folder at a time (`<root>/.lock`): a second waits, saying who holds
   * it. Holding the lock, every `versions/.tmp-*` is a leftover of a killed build and is removed.
   * A version already here is reused only when it verifies; a broken copy is replaced. The version
   * is verified before `CURRENT` moves to it and again after, so a publish never succeeds while
   * `CURRENT` points to a broken version.
   */
  async publish(content: KbVersionContent, extra: (dir: string) => Promise<void>, keep = 3, options: PublishOptions = {}): Promise<KbManifest> {
    const json = new JsonOnce();
    const version = await KbDirectory.versionOfContent(content, json);
    const target = this.versionDir(version);
    return withExclusiveLock(this.lockPath(), buildLockOptions(options), async (held) => {
      await this.removeTemporaries();
      // The version is hashed once: the copy found here when it verifies, else the one written
      // (and the check once CURRENT names it does not hash it again, see assertServing).
      let checked = existsSync(target) ? await this.verifiedNow(version) : undefined;
      // A damaged copy of this very version (the same content): moved aside and written anew.
      if (checked && !(checked.verification.ok && checked.verification.manifest)) {
        await this.discard(target);
        checked = undefined;
      }
      let manifest = checked?.verification.manifest;
      if (!checked || !manifest) {
        manifest = await this.writeVersion(version, content, extra, json);
        checked = await this.verifiedNow(version);
        if (!checked.verification.ok) throw new KbIntegrityError(checked.verification, 'fails verification after writing it (CURRENT was not moved)');
      }
      const previous = await this.current();
      held.assertHeld();
      await writeFileAtomic(join(this.root, CURRENT), `${version}\n`);
      await this.assertServing(version, previous, checked.manifestFile);
      await this.prune(keep, version);
      return manifest;
    });
  }

  private async writeVersion(version: string, content: KbVersionContent, extra: (dir: string) => Promise<void>, json = new JsonOnce()): Promise<KbManifest> {
    // A version is a folder, which write-file-atomic (single files) cannot replace: it is
    // assembled under a temporary name and renamed into place whole, so readers never see half.
    const tmp = join(this.root, 'versions', `${TEMPORARY}${version}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp, { recursive: true });
    try {
      // `extra` (the index tables) starts first and the content files are written while it runs:
      // different files, and LanceDB does its work off this thread.
      const extraWritten = extra(tmp);
      const contentWritten = (async () => {
        // Each item's JSON as the version id hashed it: made once (see JsonOnce).
        const line = (item: unknown): string => json.of(item, false);
        await writeJsonLines(join(tmp, 'nodes.jsonl'), content.nodes, line);
        await writeJsonLines(join(tmp, 'examples.jsonl'), content.examples, line);
        await writeJsonLines(join(tmp, 'documents.jsonl'), content.documents ?? [], line);
      })();
      // Both settled before anything is thrown, so the clean-up below never races a write.
      const failed = (await Promise.allSettled([extraWritten, contentWritten])).find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const files: Record<string, string> = {};
      const written = (await filesUnder(tmp)).filter((rel) => rel !== 'manifest.json');
      const digests = await sha256OfFiles(written.map((rel) => join(tmp, rel)));
      written.forEach((rel, i) => (files[rel] = digests[i].digest));
      const manifest: KbManifest = { version, createdAt: new Date().toISOString(), ...content.manifest, checksums: { algorithm: 'sha256', files, manifest: '' } };
      manifest.checksums = { algorithm: 'sha256', files, manifest: manifestDigest(manifest) };
      await writeFile(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2));
      await rename(tmp, join(this.root, 'versions', version));
      return manifest;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Points CURRENT at a version kept here (a rollback, or forward again), under the build lock and
   * only when it verifies; checked again once CURRENT names it.
   */
  async activate(version: string, options: PublishOptions = {}): Promise<KbManifest> {
    const dir = this.versionDir(version);
    if (!existsSync(dir)) throw new NotFoundError(`KB version ${version} is not in ${this.root}; the versions kept are listed by "rescue kb list"`);
    return withExclusiveLock(this.lockPath(), buildLockOptions(options), async (held) => {
      const found = await this.verify(version);
      if (!found.ok || !found.manifest) throw new KbIntegrityError(found, 'cannot be made current, it fails verification');
      const previous = await this.current();
      held.assertHeld();
      await writeFileAtomic(join(this.root, CURRENT), `${version}\n`);
      await this.assertServing(version, previous);
      return found.manifest;
    });
  }

  /** After CURRENT moved to `version`: verified again; when broken, back to a sound previous version, and thrown. */
  private async assertServing(version: string, previous: string | undefined, verifiedManifestFile?: string): Promise<void> {
    // Just verified under the build lock (every file hashed), and still the same manifest file:
    // what is left to check is that CURRENT names it. Hashing every file again here was a third of
    // a small rebuild's checksum work.
    if (verifiedManifestFile && (await this.current()) === version && (await this.manifestFileIdentity(version)) === verifiedManifestFile) return;
    const serving = await this.verify();
    if (serving.ok && serving.version === version) return;
    // Broken between the two checks (the disk, another process): serve the previous version
    // again when it is sound, and fail either way.
    const back = previous !== undefined && previous !== version && (await this.verify(previous)).ok;
    if (back) await writeFileAtomic(join(this.root, CURRENT), `${previous}\n`);
    throw new KbIntegrityError(serving, `fails verification after CURRENT moved to it${back ? ` (CURRENT is back on ${previous})` : ''}`);
  }

  /** Removes `versions/.tmp-*`: called holding the build lock, when none can be a live build's. */
  private async removeTemporaries(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(join(this.root, 'versions'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const n of names) if (n.startsWith(TEMPORARY)) await rm(join(this.root, 'versions', n), { recursive: true, force: true });
  }

  /** A broken version folder: renamed out of the way first (readers stop finding it at once), then removed. */
  private async discard(dir: string): Promise<void> {
    const aside = join(this.root, 'versions', `${TEMPORARY}broken-${randomBytes(4).toString('hex')}`);
    await rename(dir, aside);
    await rm(aside, { recursive: true, force: true });
  }

  /**
   * Checks a version (default: the one CURRENT points to) against the checksums in its manifest:
   * every listed file present with its digest, no file added, and the manifest itself unaltered.
   * Never throws for a damaged version (the problems say what is wrong); throws NotFoundError
   * when nothing was published here.
   */
  async verify(version?: string): Promise<KbVerification> {
    const v = version ?? (await this.current());
    if (!v) throw new NotFoundError(`no KB published in ${this.root}: run "rescue kb build" first`);
    const result: KbVerification = { root: this.root, version: v, ok: false, files: 0, bytes: 0, problems: [] };
    const problem = (file: string, what: string): KbVerification => {
      result.problems.push({ file, problem: what });
      return result;
    };
    // A version asked for by name must be a version id (versionDir says so); CURRENT's content is checked like any file.
    if (!version && !/^kb-[0-9a-f]{16}$/.test(v)) return problem(join(this.root, CURRENT), `names ${JSON.stringify(v.slice(0, 40))}, not a KB version id`);
    const dir = this.versionDir(v);
    const manifestPath = join(dir, 'manifest.json');
    let text: string;
    try {
      text = await readFile(manifestPath, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      return problem(existsSync(dir) ? manifestPath : dir, 'is missing');
    }
    let manifest: KbManifest;
    try {
      manifest = JSON.parse(text) as KbManifest;
    } catch (err) {
      return problem(manifestPath, `is not valid JSON, truncated or damaged (${(err as Error).message})`);
    }
    if (typeof manifest !== 'object' || manifest === null) return problem(manifestPath, 'is not a JSON object');
    result.manifest = manifest;
    if (manifest.version !== v) problem(manifestPath, `names version ${JSON.stringify(manifest.version)}, not ${v}`);
    const sums = manifest.checksums;
    if (!sums || typeof sums.files !== 'object' || sums.algorithm !== 'sha256') return problem(manifestPath, 'has no checksums (published by an older Rescue): rebuild the version to add them');
    if (sums.manifest !== manifestDigest(manifest)) problem(manifestPath, 'was altered after publishing (its digest does not match)');
    const present = new Set(existsSync(dir) ? await filesUnder(dir) : []);
    const expectedFiles = Object.entries(sums.files);
    const hashed = await sha256OfFiles(expectedFiles.filter(([rel]) => present.has(rel)).map(([rel]) => join(dir, rel)));
    let at = 0;
    for (const [rel, expected] of expectedFiles) {
      const file = join(dir, rel);
      if (!present.has(rel)) {
        problem(file, 'is missing');
        continue;
      }
      const { digest, bytes } = hashed[at++];
      result.files += 1;
      result.bytes += bytes;
      if (digest !== expected) problem(file, `content changed (sha256 ${digest.slice(0, 12)}…, published ${expected.slice(0, 12)}…)`);
    }
    for (const rel of present) if (rel !== 'manifest.json' && !Object.hasOwn(sums.files, rel)) problem(join(dir, rel), 'was added after publishing');
    result.ok = result.problems.length === 0;
    return result;
  }

  /** {@link verify}, with the version's manifest file as it was just before (see assertServing). */
  private async verifiedNow(version: string): Promise<{ verification: KbVerification; manifestFile?: string }> {
    const manifestFile = await this.manifestFileIdentity(version);
    return { verification: await this.verify(version), manifestFile };
  }

  /** The version's manifest file as the file system knows it (inode, mtime, size); undefined when it has none. */
  private async manifestFileIdentity(version: string): Promise<string | undefined> {
    try {
      const st = await stat(join(this.versionDir(version), 'manifest.json'));
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch (_absent) {
      // No manifest: the full verification that follows reports it.
      return undefined;
    }
  }

  /**
   * {@link verify}, once per version folder for the life of the process (the readiness probe and
   * long-lived readers call it on every open or switch, and must stay cheap). A version rebuilt in
   * place is a new manifest file, and is checked again.
   */
  async verifyOnce(version?: string): Promise<KbVerification> {
    const v = version ?? (await this.current());
    if (!v) throw new NotFoundError(`no KB published in ${this.root}: run "rescue kb build" first`);
    const identity = await this.manifestFileIdentity(v);
    // A missing or unreadable manifest, or a CURRENT that names no version id, is what verify()
    // reports; it is not cached under a file identity.
    if (identity === undefined) return this.verify(version);
    const key = `${resolve(this.root)}\0${v}\0${identity}`;
    let result = verified.get(key);
    if (!result) {
      result = this.verify(v);
      verified.set(key, result);
      result.catch(() => verified.delete(key));
    }
    return result;
  }

  /** The version `CURRENT` points to; undefined when nothing was published here yet. */
  async current(): Promise<string | undefined> {
    return (await readTextIfExists(join(this.root, CURRENT)))?.trim() || undefined;
  }

  async list(): Promise<KbManifest[]> {
    let names: string[];
    try {
      names = (await readdir(join(this.root, 'versions'))).filter((n) => n.startsWith('kb-'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: KbManifest[] = [];
    for (const n of names) {
      const path = join(this.root, 'versions', n, 'manifest.json');
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        // A folder without a manifest (or a stray file named like a version) is not a published version.
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw err;
      }
      out.push(parseManifest(text, path));
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  /**
   * A file of `version` read whole, with the version's manifest, when its bytes are the ones the
   * manifest's checksum names: undefined when they are not or the file is absent (what a rebuild
   * reads back from an earlier version, and then does without). Throws as {@link manifest} does.
   */
  async checkedFile(version: string, file: string): Promise<{ bytes: Buffer; manifest: KbManifest } | undefined> {
    const manifest = await this.manifest(version);
    const expected = manifest.checksums?.files[file];
    if (!expected) return undefined;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.versionDir(version), file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return createHash('sha256').update(bytes).digest('hex') === expected ? { bytes, manifest } : undefined;
  }

  async manifest(version?: string): Promise<KbManifest> {
    const v = version ?? (await this.current());
    if (!v) throw new NotFoundError(`no KB published in ${this.root}: run "rescue kb build" first`);
    const path = join(this.versionDir(v), 'manifest.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new InvalidInputError(
        `KB version ${v} is not in ${this.root}${version ? ' (pruned after newer versions were published, or never built here)' : ''}; the versions kept are listed by "rescue kb list"`,
      );
    }
    const manifest = parseManifest(text, path);
    if (manifest.searchTerms === undefined) throw new InvalidInputError(`KB version ${v} in ${this.root} was built by an older Rescue (before search terms); rebuild it with "rescue kb build"`);
    return manifest;
  }

  async nodes(version?: string): Promise<CweNode[]> {
    return readJsonl<CweNode>(join(this.versionDir((await this.manifest(version)).version), 'nodes.jsonl'));
  }

  async examples(version?: string): Promise<CodeExample[]> {
    return readJsonl<CodeExample>(join(this.versionDir((await this.manifest(version)).version), 'examples.jsonl'));
  }

  async documents(version?: string): Promise<KnowledgeDocument[]> {
    return readJsonl<KnowledgeDocument>(join(this.versionDir((await this.manifest(version)).version), 'documents.jsonl'));
  }

  /**
   * Removes all but the newest `keep` versions. A version whose manifest cannot be read counts as
   * the oldest (it cannot be served anyway), so a damaged old folder neither fails the publish
   * that just succeeded nor outlives sound ones.
   */
  private async prune(keep: number, current: string): Promise<void> {
    const names = (await readdir(join(this.root, 'versions'))).filter((n) => /^kb-[0-9a-f]{16}$/.test(n));
    const dated: { version: string; createdAt: string }[] = [];
    for (const version of names) {
      let createdAt = '';
      try {
        createdAt = String((JSON.parse(await readFile(join(this.versionDir(version), 'manifest.json'), 'utf8')) as KbManifest).createdAt ?? '');
      } catch (_unreadable) {
        // Missing or damaged: sorted last, pruned first.
      }
      dated.push({ version, createdAt });
    }
    dated.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    for (const m of dated.slice(Math.max(1, keep))) {
      if (m.version === current) continue;
      await rm(this.versionDir(m.version), { recursive: true, force: true });
      // The gate cached for it (see gate-cache.ts) would otherwise outlive it.
      await rm(gateCachePath(this.root, m.version), { force: true });
    }
  }
}

/** A corrupt manifest names its file: it is what to delete or rebuild. */
function parseManifest(text: string, path: string): KbManifest {
  try {
    return JSON.parse(text) as KbManifest;
  } catch (err) {
    throw new InvalidInputError(`${path} is not valid JSON (${(err as Error).message}); delete that version folder or rebuild it with "rescue kb build"`, { cause: err });
  }
}

/**
 * A whole file as text, read as bytes and decoded once: `readFile(path, 'utf8')` decodes it chunk
 * by chunk into pieces joined and copied again when parsed, a tenth more work on the 10 MB
 * examples and 12 MB embedder a `rescue retrieve` reads from the shared-data KB.
 */
export async function readText(path: string): Promise<string> {
  return (await readFile(path)).toString('utf8');
}

async function readJsonl<T>(path: string): Promise<T[]> {
  const text = await readText(path);
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}
