import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextFileWriter } from '../src/text-file-writer';

describe('TextFileWriter', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-text-writer-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const written = async (texts: string[]): Promise<Buffer> => {
    const path = join(dir, 'out.txt');
    const file = await open(path, 'w');
    try {
      const out = new TextFileWriter(file);
      for (const t of texts) await out.write(t);
      await out.end();
    } finally {
      await file.close();
    }
    return readFileSync(path);
  };

  it('writes exactly the UTF-8 of the texts joined: short and long ones, empty ones, multi-byte ones', async () => {
    const texts = [
      '',
      'plain',
      'é✓',
      ...Array.from({ length: 5000 }, (_, i) => `{"id":"r${i}","code":"${'x'.repeat(i % 97)}é"}\n`),
      // Longer than a piece, so written a slice at a time.
      'long '.repeat(40_000),
      '',
      `${'😀'.repeat(70_000)}end`,
    ];
    expect((await written(texts)).equals(Buffer.from(texts.join(''), 'utf8'))).toBe(true);
  });

  it('never splits a surrogate pair between two slices of a long text', async () => {
    // Astral characters placed so that a slice boundary falls between the two halves of one, at every offset.
    for (const lead of [0, 1, 2, 3]) {
      const text = `${'a'.repeat(32 * 1024 - 1 + lead)}${'😀'.repeat(20_000)}`;
      const bytes = await written([text]);
      expect(bytes.equals(Buffer.from(text, 'utf8'))).toBe(true);
      expect(bytes.toString('utf8')).not.toContain('\uFFFD');
    }
  });

  it('keeps a surrogate pair whole when two texts split it, wherever the pieces are cut', async () => {
    for (const lead of [32 * 1024 - 1, 32 * 1024, 70_000]) {
      const texts = [`${'x'.repeat(lead)}\uD83D`, '\uDE00y', 'z\uD83D', '\uDE00'];
      const bytes = await written(texts);
      expect(bytes.equals(Buffer.from(texts.join(''), 'utf8'))).toBe(true);
      expect(bytes.toString('utf8')).not.toContain('\uFFFD');
    }
    // A lone high surrogate at the very end is written as what it is alone (U+FFFD's bytes).
    expect((await written(['a\uD800'])).equals(Buffer.from('a\uD800', 'utf8'))).toBe(true);
  });

  it('writes an empty file when given nothing', async () => {
    expect((await written([])).length).toBe(0);
  });

  it('writes what a short writev left unwritten, and fails rather than spin when nothing can be written', async () => {
    // A file system that takes at most 1,000 bytes a call (a real file takes everything at once, so this is a stand-in).
    const chunks: Buffer[] = [];
    const short = {
      writev: async (buffers: Buffer[]) => {
        const all = Buffer.concat(buffers);
        const n = Math.min(all.length, 1000);
        chunks.push(all.subarray(0, n));
        return { bytesWritten: n, buffers };
      },
    } as unknown as FileHandle;
    const texts = Array.from({ length: 3000 }, (_, i) => `line ${i} ✓ ${'y'.repeat(i % 300)}\n`);
    const out = new TextFileWriter(short);
    for (const t of texts) await out.write(t);
    await out.end();
    expect(Buffer.concat(chunks).equals(Buffer.from(texts.join(''), 'utf8'))).toBe(true);

    const full = { writev: async (buffers: Buffer[]) => ({ bytesWritten: 0, buffers }) } as unknown as FileHandle;
    const stuck = new TextFileWriter(full);
    await stuck.write('some text');
    await expect(stuck.end()).rejects.toThrow('wrote none');
  });
});
