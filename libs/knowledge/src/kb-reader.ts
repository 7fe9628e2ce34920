import { existsSync } from 'node:fs';
import { InvalidInputError, NotFoundError } from '@rescue/domain';
import { ElasticsearchKnowledgeIndex, elasticsearchClient } from '@rescue/retrieval';
import { KbDirectory, KbIntegrityError, type KbVerification } from './kb-directory';
import { type KbLocation, type OpenOptions, type OpenedKb, openKnowledgeBaseAt } from './kb-retriever';

/** Versions a reader keeps open at once (the live one and those jobs still pin). */
const KEEP_OPEN = 3;

/** How often the live version is looked up at most (a file read or an alias request). */
const LIVE_CHECK_MS = 1000;

/**
 * A long-lived reader of a KB location (the API, the generator worker): it notices a newly
 * published version without a restart, and serves a pinned version for as long as it exists.
 *
 * `live()` answers with the version `CURRENT` (or the Elasticsearch alias) points to now, looked
 * up at most once a second; `version(v)` with exactly `v`, which a job planned on `v` needs even
 * after a newer version went live. Opened versions are kept, the least recently used closed
 * beyond {@link KEEP_OPEN}.
 */
export class KnowledgeBaseReader {
  private readonly open = new Map<string, Promise<OpenedKb>>();
  private liveCheck?: { at: number; version: Promise<string> };

  constructor(
    readonly location: KbLocation,
    private readonly options: OpenOptions = {},
    private readonly now: () => number = Date.now,
  ) {}

  /** The version live now, opened (or the one opened already). */
  async live(): Promise<OpenedKb> {
    return this.version(await this.liveVersion());
  }

  /** Exactly this version; a clear, non-retryable error when it is not (or no longer) published. */
  async version(version: string): Promise<OpenedKb> {
    let kb = this.open.get(version);
    if (kb) {
      // Most recently used last, so the oldest is the first to go.
      this.open.delete(version);
      this.open.set(version, kb);
      return kb;
    }
    kb = this.openVerified(version);
    this.open.set(version, kb);
    kb.catch(() => this.open.delete(version));
    while (this.open.size > KEEP_OPEN) this.open.delete(this.open.keys().next().value as string);
    return kb;
  }

  /**
   * A folder version is checked against its checksums before it is served (once per version and
   * process: see {@link KbDirectory.verifyOnce}), so a damaged version is refused by name instead
   * of answering from half a table. A version that is not there at all gets the open's own error.
   */
  private async openVerified(version: string): Promise<OpenedKb> {
    const { dir } = this.location;
    if (dir) {
      const kbDir = new KbDirectory(dir);
      if (existsSync(kbDir.versionDir(version))) {
        const check = await kbDir.verifyOnce(version);
        if (!check.ok) throw new KbIntegrityError(check, 'cannot be served, it fails verification');
      }
    }
    return openKnowledgeBaseAt(this.location, this.options, version);
  }

  /** The live version's id, looked up again once {@link LIVE_CHECK_MS} has passed. */
  liveVersion(): Promise<string> {
    const t = this.now();
    if (!this.liveCheck || t - this.liveCheck.at >= LIVE_CHECK_MS) {
      const version = this.lookUpLive();
      this.liveCheck = { at: t, version };
      version.catch(() => (this.liveCheck = undefined));
    }
    return this.liveCheck.version;
  }

  private async lookUpLive(): Promise<string> {
    const { dir, elasticsearchUrl, elasticsearchPrefix } = this.location;
    if (dir) {
      const current = await new KbDirectory(dir).current();
      if (!current) throw new NotFoundError(`no KB published in ${dir}: run "rescue kb build" first`);
      return current;
    }
    if (!elasticsearchUrl) throw new InvalidInputError('no KB location: give a KB folder or an Elasticsearch URL it was published to');
    const live = await new ElasticsearchKnowledgeIndex(elasticsearchClient(elasticsearchUrl), { prefix: elasticsearchPrefix }).liveVersion();
    if (!live) throw new NotFoundError(`no KB is live in Elasticsearch under prefix "${elasticsearchPrefix}"; publish one with \`rescue kb build --es\``);
    return live;
  }
}

/** What a readiness probe says of a KB folder: nothing published yet, or its live version checked. */
export type KbIntegrityState = { state: 'absent' } | { state: 'ok' | 'corrupt'; version: string; verification: KbVerification };

/**
 * The live version of a KB folder, verified once per version (the probe then costs a read of
 * CURRENT and a stat of the manifest): `corrupt` when it fails its checksums.
 */
export async function kbIntegrity(dir: string): Promise<KbIntegrityState> {
  const kb = new KbDirectory(dir);
  const current = await kb.current();
  if (!current) return { state: 'absent' };
  const verification = await kb.verifyOnce();
  return { state: verification.ok ? 'ok' : 'corrupt', version: verification.version, verification };
}
