import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { InvalidInputError, NotFoundError } from '@rescue/domain';
import type { CodeExample, CweNode, KnowledgeDocument } from './kb-model';

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
  /** Retrieval thresholds fitted for this KB (filled by calibration). */
  thresholds?: Record<string, number>;
}

export interface KbVersionContent {
  manifest: Omit<KbManifest, 'version' | 'createdAt'>;
  nodes: CweNode[];
  examples: CodeExample[];
  documents?: KnowledgeDocument[];
}

const CURRENT = 'CURRENT';

/** Bumped when what a version folder holds changes (index columns), so old folders are not reused. */
export const KB_FORMAT = 'kb-format-4';

/**
 * The embedded KB: immutable versions under `versions/<id>/`, and a `CURRENT` pointer file
 * replaced by rename, so publishing is atomic and a failed build leaves the old version serving.
 * A version id is a hash of its content: building the same KB twice publishes the same version.
 */
export class KbDirectory {
  constructor(readonly root: string) {}

  versionDir(version: string): string {
    if (!/^kb-[0-9a-f]{16}$/.test(version)) throw new InvalidInputError(`not a KB version id: ${JSON.stringify(version)}`);
    return join(this.root, 'versions', version);
  }

  static versionOf(content: KbVersionContent): string {
    const h = createHash('sha256');
    h.update(KB_FORMAT);
    h.update(JSON.stringify(content.manifest.embedder));
    h.update(JSON.stringify(content.manifest.slicer));
    for (const n of content.nodes) h.update(JSON.stringify(n));
    for (const e of content.examples) h.update(JSON.stringify(e));
    for (const d of content.documents ?? []) h.update(JSON.stringify(d));
    return `kb-${h.digest('hex').slice(0, 16)}`;
  }

  /**
   * Writes a version into a temporary folder, lets `extra` add files (index tables, embedder
   * model), renames it into place, then moves the pointer. Keeps the newest `keep` versions.
   */
  async publish(content: KbVersionContent, extra: (dir: string) => Promise<void>, keep = 3): Promise<KbManifest> {
    const version = KbDirectory.versionOf(content);
    const target = this.versionDir(version);
    let manifest: KbManifest;
    if (existsSync(join(target, 'manifest.json'))) {
      manifest = JSON.parse(await readFile(join(target, 'manifest.json'), 'utf8')) as KbManifest;
    } else {
      // A version is a folder, which write-file-atomic (single files) cannot replace: it is
      // assembled under a temporary name and renamed into place whole, so readers never see half.
      const tmp = join(this.root, 'versions', `.tmp-${version}-${randomBytes(4).toString('hex')}`);
      await mkdir(tmp, { recursive: true });
      try {
        manifest = { version, createdAt: new Date().toISOString(), ...content.manifest };
        await writeFile(join(tmp, 'nodes.jsonl'), content.nodes.map((n) => JSON.stringify(n)).join('\n') + '\n');
        await writeFile(join(tmp, 'examples.jsonl'), content.examples.map((e) => JSON.stringify(e)).join('\n') + '\n');
        await writeFile(join(tmp, 'documents.jsonl'), (content.documents ?? []).map((d) => JSON.stringify(d)).join('\n') + '\n');
        await extra(tmp);
        await writeFile(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2));
        await rename(tmp, target);
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    }
    await writeFileAtomic(join(this.root, CURRENT), `${version}\n`);
    await this.prune(keep, version);
    return manifest;
  }

  /** The version `CURRENT` points to; undefined when nothing was published here yet. */
  async current(): Promise<string | undefined> {
    try {
      return (await readFile(join(this.root, CURRENT), 'utf8')).trim() || undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
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

  async manifest(version?: string): Promise<KbManifest> {
    const v = version ?? (await this.current());
    if (!v) throw new NotFoundError(`no KB published in ${this.root}: run "rescue kb build" first`);
    const path = join(this.versionDir(v), 'manifest.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new InvalidInputError(`KB version ${v} is not in ${this.root}${version ? ' (pruned after newer versions were published, or never built here)' : ''}; the versions kept are listed by "rescue kb list"`);
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

  private async prune(keep: number, current: string): Promise<void> {
    const versions = await this.list();
    for (const m of versions.slice(Math.max(1, keep))) {
      if (m.version !== current) await rm(this.versionDir(m.version), { recursive: true, force: true });
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

async function readJsonl<T>(path: string): Promise<T[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}
