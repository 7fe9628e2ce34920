/**
 * Shared helpers for the datasets tests (not a test file itself: jest only runs *.spec.ts and
 * *.int-spec.ts). Temporary directories live under os.tmpdir() and are removed by the caller.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanSegment, segmentNumber } from '@rescue/datasets';

/** Creates temp dirs on demand and removes every one of them in `cleanup()`. */
export class TempDirs {
  private readonly dirs: string[] = [];

  make(label = 'datasets'): string {
    const dir = mkdtempSync(join(tmpdir(), `rescue-${label}-`));
    this.dirs.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** A deterministic PRNG (mulberry32), so "random" inputs are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where each entry of a folder record store's segments is, in the order written (for tests that damage one). */
export function segmentEntries(dir: string): { id: string; path: string; start: number; payloadOffset: number; length: number; end: number }[] {
  return readdirSync(dir)
    .filter((n) => segmentNumber(n) !== undefined)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return scanSegment(readFileSync(path), 0).entries.map((e) => ({ ...e, path }));
    });
}

/** Overwrites bytes of a file in place, as a damaged disk block or a hand edit would. */
export function overwrite(path: string, at: number, text: string): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, text, at);
  } finally {
    closeSync(fd);
  }
}
