import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KbDirectory, cachedDefaultGate, fitDefaultGate, gateCachePath } from '@rescue/knowledge';
import { type GateModel, type TermCounts, countTerms, gateFitFingerprint, searchTerms } from '@rescue/retrieval';
import { oneNodeVersion } from './one-node-version';

// The default relevance gate of a folder KB is cached beside its version: it must give exactly the
// gate a fit gives, be used only for the inputs it was fitted on, and be fitted again, saying so,
// when its file is stale or damaged.

const VERSION = 'kb-0123456789abcdef';

/** Term counts of a small security corpus, as a publish writes them (and an open reads them). */
function termCountsText(extra = ''): string {
  const texts = ['execute the sql query with bound parameters', 'escape html before rendering user input', 'hash the password with a salt', extra];
  return JSON.stringify(countTerms(texts.map((t) => searchTerms(t).join(' '))));
}

describe('the cached default relevance gate', () => {
  let kbDir: string;
  let notices: string[];
  const notice = (m: string): void => void notices.push(m);
  beforeEach(() => {
    kbDir = mkdtempSync(join(tmpdir(), 'rescue-gate-cache-'));
    notices = [];
  });
  afterEach(() => rmSync(kbDir, { recursive: true, force: true }));

  const path = (): string => gateCachePath(kbDir, VERSION);
  const gateOf = async (text = termCountsText()): Promise<GateModel> => cachedDefaultGate(kbDir, VERSION, text, JSON.parse(text) as TermCounts, notice);
  const readFile = (): { key: string; sha256: string; gate: GateModel } => JSON.parse(readFileSync(path(), 'utf8')) as { key: string; sha256: string; gate: GateModel };
  /** Rewrites the cached file with `change` applied to it, its checksum kept right unless `keepSum`. */
  const rewrite = (change: (file: { key: string; sha256: string; gate: GateModel }) => void, keepSum = false): void => {
    const file = readFile();
    change(file);
    if (!keepSum) file.sha256 = createHash('sha256').update(JSON.stringify(file.gate)).digest('hex');
    writeFileSync(path(), JSON.stringify(file));
  };

  it('is the gate a fit gives, written on the first open and read (not fitted) on the next', async () => {
    const text = termCountsText();
    const fitted = fitDefaultGate(JSON.parse(text) as TermCounts);
    expect(existsSync(path())).toBe(false);
    expect(await gateOf(text)).toEqual(fitted);
    expect(existsSync(path())).toBe(true);
    expect(readFile().gate).toEqual(fitted);
    // A threshold no fit gives, with its checksum made right: the next open returns it, so it read the file.
    rewrite((f) => (f.gate.threshold = 123.456));
    expect((await gateOf(text)).threshold).toBe(123.456);
    expect(notices).toEqual([]);
  });

  it('is stale for other term counts of the same version: fitted again for them, with a message, and replaced', async () => {
    await gateOf(termCountsText());
    const other = termCountsText('deserialize untrusted pickle data from the network');
    const gate = await gateOf(other);
    expect(gate).toEqual(fitDefaultGate(JSON.parse(other) as TermCounts));
    expect(gate.threshold).not.toEqual(fitDefaultGate(JSON.parse(termCountsText()) as TermCounts).threshold);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(`the relevance gate cached for KB version ${VERSION} (${path()}) is stale`);
    expect(notices[0]).toContain('fitted it again and replaced the file');
    // Replaced: the same counts again read it without a word.
    await gateOf(other);
    expect(notices).toHaveLength(1);
  });

  it('is stale when another Rescue fitted it (another fit, or other ordinary-task fixtures)', async () => {
    const text = termCountsText();
    await gateOf(text);
    rewrite((f) => (f.key = '0'.repeat(64)));
    expect(await gateOf(text)).toEqual(fitDefaultGate(JSON.parse(text) as TermCounts));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('is stale');
    // What the key is made of: changed fixtures change it.
    const fixtures = join(kbDir, 'ordinary-tasks-x.jsonl');
    writeFileSync(fixtures, '{"prompt":"sort a list"}\n');
    const before = gateFitFingerprint([fixtures]);
    writeFileSync(fixtures, '{"prompt":"sort a list of numbers"}\n');
    expect(gateFitFingerprint([fixtures])).not.toBe(before);
  });

  it.each([
    ['truncated', (): void => writeFileSync(path(), readFileSync(path(), 'utf8').slice(0, 100)), 'is damaged: not valid JSON'],
    ['edited without its checksum', (): void => rewrite((f) => (f.gate.threshold = 123.456), true), 'is damaged: its gate does not match its checksum'],
    ['not a gate', (): void => rewrite((f) => ((f.gate as unknown as Record<string, unknown>).ordinary = undefined)), 'is damaged:'],
    ['of another format', (): void => writeFileSync(path(), JSON.stringify({ format: 'other', gate: {} })), 'is damaged: not a rescue-gate-cache-1 file'],
  ])('is fitted again, with a message naming the file, when it is %s', async (_name, damage, message) => {
    const text = termCountsText();
    const fitted = fitDefaultGate(JSON.parse(text) as TermCounts);
    await gateOf(text);
    damage();
    expect(await gateOf(text)).toEqual(fitted);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(path());
    expect(notices[0]).toContain(message);
    expect(readFile().gate).toEqual(fitted);
  });

  it('is fitted at each open, silently, when the KB folder cannot hold it', async () => {
    const text = termCountsText();
    const fitted = fitDefaultGate(JSON.parse(text) as TermCounts);
    // The gates folder is a file: nothing can be written under it (root ignores permission bits).
    mkdirSync(join(kbDir, 'cache'), { recursive: true });
    writeFileSync(join(kbDir, 'cache', 'gates'), 'not a folder');
    expect(await gateOf(text)).toEqual(fitted);
    expect(await gateOf(text)).toEqual(fitted);
    expect(notices).toEqual([]);
  });

  it('says so when a file it cannot use cannot be replaced either', async () => {
    const text = termCountsText();
    // A folder where the file should be: unreadable as a gate, and not replaced by a rename.
    mkdirSync(path(), { recursive: true });
    expect(await gateOf(text)).toEqual(fitDefaultGate(JSON.parse(text) as TermCounts));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(`(${path()}) cannot be read`);
    expect(notices[0]).toContain('fitted it again (the file could not be replaced)');
  });

  it('is removed with its version when a publish prunes it', async () => {
    const dir = new KbDirectory(kbDir);
    const first = await dir.publish(oneNodeVersion('first'), async () => {}, 1);
    writeFileSync(join(dir.versionDir(first.version), 'term-counts.json'), termCountsText());
    await cachedDefaultGate(kbDir, first.version, termCountsText(), JSON.parse(termCountsText()) as TermCounts, notice);
    expect(existsSync(gateCachePath(kbDir, first.version))).toBe(true);
    const second = await dir.publish(oneNodeVersion('second'), async () => {}, 1);
    expect(second.version).not.toBe(first.version);
    expect(existsSync(dir.versionDir(first.version))).toBe(false);
    expect(existsSync(gateCachePath(kbDir, first.version))).toBe(false);
  });
});
