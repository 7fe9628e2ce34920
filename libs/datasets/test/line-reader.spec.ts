import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BINARY_SNIFF_BYTES, type FileVerdict, type RawLine, firstInvalidUtf8Offset, readLines, sniffBinary } from '@rescue/datasets';
import { TempDirs, seededRandom } from './helpers';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

let dir: string;
beforeAll(() => {
  dir = dirs.make('line-reader');
});

let fileNo = 0;
function file(content: string | Buffer): string {
  fileNo += 1;
  const p = join(dir, `f${fileNo}.jsonl`);
  writeFileSync(p, content);
  return p;
}

async function collect(path: string, maxLineBytes = 1024, verdicts: FileVerdict[] = [], chunkBytes?: number): Promise<RawLine[]> {
  const out: RawLine[] = [];
  for await (const line of readLines(path, { maxLineBytes, onVerdict: (v) => verdicts.push(v), chunkBytes })) out.push(line);
  return out;
}

const text = (lines: RawLine[]): Array<[number, string]> =>
  lines.map((l) => {
    if (l.kind !== 'text') throw new Error(`line ${l.lineNo} is ${l.kind}, expected text`);
    return [l.lineNo, l.text];
  });

describe('readLines', () => {
  it('reads \\n-terminated lines with 1-based numbers and byte lengths', async () => {
    const lines = await collect(file('alpha\nbeta\ngamma é\n'));
    expect(text(lines)).toEqual([
      [1, 'alpha'],
      [2, 'beta'],
      [3, 'gamma é'],
    ]);
    expect(lines.map((l) => l.byteLength)).toEqual([5, 4, Buffer.byteLength('gamma é')]);
  });

  it('strips the \\r of \\r\\n endings, also when a file mixes both endings', async () => {
    const lines = await collect(file('one\r\ntwo\nthree\r\n'));
    expect(text(lines)).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
    expect(lines.map((l) => l.byteLength)).toEqual([3, 3, 5]);
  });

  it('strips a leading UTF-8 BOM from the first line only', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const lines = await collect(file(Buffer.concat([bom, Buffer.from('{"a":1}\n'), bom, Buffer.from('x\n')])));
    expect(lines[0]).toEqual({ lineNo: 1, kind: 'text', text: '{"a":1}', byteLength: 7 });
    // A BOM in the middle of a file is content, not an encoding mark.
    expect(lines[1].kind).toBe('text');
    expect(lines[1].lineNo).toBe(2);
    expect(lines[1].byteLength).toBe(4);
  });

  it('skips blank and whitespace-only lines but keeps counting them', async () => {
    const lines = await collect(file('a\n\n   \n\r\nb\n\t\nc\n'));
    expect(text(lines)).toEqual([
      [1, 'a'],
      [5, 'b'],
      [7, 'c'],
    ]);
  });

  it('reads a last line that has no newline', async () => {
    expect(text(await collect(file('first\nlast')))).toEqual([
      [1, 'first'],
      [2, 'last'],
    ]);
    expect(text(await collect(file('only\r')))).toEqual([[1, 'only']]);
  });

  it('yields nothing for an empty file and still gives a text verdict', async () => {
    const verdicts: FileVerdict[] = [];
    expect(await collect(file(''), 1024, verdicts)).toEqual([]);
    expect(verdicts).toEqual([{ binary: false }]);
  });

  it('reports a line over maxLineBytes as too-long with its full byte length, and reads the next line', async () => {
    const long = 'x'.repeat(100);
    const lines = await collect(file(`short\n${long}\nafter\n${long}`), 50);
    expect(lines).toEqual([
      { lineNo: 1, kind: 'text', text: 'short', byteLength: 5 },
      { lineNo: 2, kind: 'too-long', byteLength: 100 },
      { lineNo: 3, kind: 'text', text: 'after', byteLength: 5 },
      { lineNo: 4, kind: 'too-long', byteLength: 100 },
    ]);
  });

  it('accepts a line of exactly maxLineBytes and rejects one byte more (LF endings)', async () => {
    const lines = await collect(file('abcd\nabcde\n'), 4);
    expect(lines).toEqual([
      { lineNo: 1, kind: 'text', text: 'abcd', byteLength: 4 },
      { lineNo: 2, kind: 'too-long', byteLength: 5 },
    ]);
  });

  it('accepts a CRLF line of exactly maxLineBytes content bytes', async () => {
    const lines = await collect(file('abcd\r\nnext\r\n'), 4);
    expect(lines[0]).toEqual({ lineNo: 1, kind: 'text', text: 'abcd', byteLength: 4 });
  });

  it('reports invalid UTF-8 with the byte offset inside the line, and reads the lines around it', async () => {
    const bad = Buffer.concat([Buffer.from('ab€'), Buffer.from([0xc3, 0x28]), Buffer.from('cd')]);
    const lines = await collect(file(Buffer.concat([Buffer.from('ok1\n'), bad, Buffer.from('\nok2\n')])));
    expect(lines).toEqual([
      { lineNo: 1, kind: 'text', text: 'ok1', byteLength: 3 },
      { lineNo: 2, kind: 'invalid-utf8', byteOffset: Buffer.byteLength('ab€'), byteLength: bad.length },
      { lineNo: 3, kind: 'text', text: 'ok2', byteLength: 3 },
    ]);
  });

  it('reports a UTF-16 surrogate encoded in UTF-8 (CESU) as invalid, where readline would substitute U+FFFD', async () => {
    const bad = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    const [line] = await collect(file(bad));
    expect(line).toEqual({ lineNo: 1, kind: 'invalid-utf8', byteOffset: 6, byteLength: bad.length });
  });

  it('treats a file with a NUL byte in the first 64 KiB as binary: no lines, verdict says binary', async () => {
    const content = Buffer.concat([Buffer.from('{"a":1}\n{"b":2}\n'), Buffer.from([0x00]), Buffer.from('\n{"c":3}\n')]);
    const verdicts: FileVerdict[] = [];
    const lines = await collect(file(content), 1024, verdicts);
    expect(lines).toEqual([]);
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0].binary).toBe(true);
    expect(verdicts[0].reason).toContain('NUL byte at offset 16');
  });

  it('treats a gzip file as binary', async () => {
    const verdicts: FileVerdict[] = [];
    const lines = await collect(file(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x61, 0x62, 0x0a, 0x63])), 1024, verdicts);
    expect(lines).toEqual([]);
    expect(verdicts).toEqual([{ binary: true, reason: expect.stringContaining('gzip') }]);
  });

  it('reads every line of a text file bigger than 64 KiB, across chunk boundaries (CRLF and multi-byte chars split)', async () => {
    // Line contents are distinct and contain multi-byte characters; one CRLF and one 3-byte
    // character are placed exactly across the 64 KiB and 128 KiB boundaries.
    const parts: Buffer[] = [];
    const expected: Array<[number, string]> = [];
    let size = 0;
    let lineNo = 0;
    const push = (content: string, ending: string): void => {
      lineNo += 1;
      const buf = Buffer.from(content + ending);
      parts.push(buf);
      size += buf.length;
      expected.push([lineNo, content]);
    };
    // Fill to just before the first boundary so that "\r" is its last byte and "\n" the next one.
    while (size < BINARY_SNIFF_BYTES - 200) push(`{"n":${lineNo + 1},"s":"héllo wörld"}`, '\n');
    push('p'.repeat(BINARY_SNIFF_BYTES - size - 1), '\r\n');
    expect(size).toBe(BINARY_SNIFF_BYTES + 1);
    while (size < 2 * BINARY_SNIFF_BYTES - 200) push(`{"n":${lineNo + 1},"s":"€uro"}`, '\n');
    // "€" is 3 bytes; put its first byte at the last position before 128 KiB.
    const pad = 2 * BINARY_SNIFF_BYTES - size - 1;
    push(`${'q'.repeat(pad)}€end`, '\n');
    for (let i = 0; i < 500; i += 1) push(`{"tail":${i}}`, i % 2 ? '\r\n' : '\n');
    const content = Buffer.concat(parts);
    expect(content.length).toBeGreaterThan(2 * BINARY_SNIFF_BYTES);

    // Read in chunks of the sniffed size, so the boundaries above are chunk boundaries; and at the
    // default chunk size, where they fall inside the first chunk.
    for (const chunkBytes of [BINARY_SNIFF_BYTES, undefined]) {
      const verdicts: FileVerdict[] = [];
      const lines = await collect(file(content), BINARY_SNIFF_BYTES, verdicts, chunkBytes);
      expect(verdicts).toEqual([{ binary: false }]);
      expect(lines).toHaveLength(expected.length);
      expect(text(lines)).toEqual(expected);
    }
  });

  it('reports a 1 MB single line as too-long under a 64 KiB limit without failing, then reads on', async () => {
    const big = Buffer.alloc(1_000_000, 'y');
    const lines = await collect(file(Buffer.concat([Buffer.from('before\n'), big, Buffer.from('\nafter')])), 64 * 1024);
    expect(lines).toEqual([
      { lineNo: 1, kind: 'text', text: 'before', byteLength: 6 },
      { lineNo: 2, kind: 'too-long', byteLength: 1_000_000 },
      { lineNo: 3, kind: 'text', text: 'after', byteLength: 5 },
    ]);
  });

  it('reports a 1 MB file that is one line without a newline as too-long', async () => {
    const lines = await collect(file(Buffer.alloc(1024 * 1024, 'z')), 64 * 1024);
    expect(lines).toEqual([{ lineNo: 1, kind: 'too-long', byteLength: 1024 * 1024 }]);
  });

  it('closes the file when the caller stops early, with the next chunk still being read', async () => {
    // Linux lists this process's open descriptors in /proc/self/fd; a file left open would add one.
    const openFiles = (): number => readdirSync('/proc/self/fd').length;
    const path = file(Array.from({ length: 20_000 }, (_, i) => `{"n":${i}}`).join('\n'));
    const before = openFiles();
    let seen = 0;
    for await (const line of readLines(path, { maxLineBytes: 1024, chunkBytes: BINARY_SNIFF_BYTES })) {
      expect(line).toMatchObject({ lineNo: 1, kind: 'text', text: '{"n":0}' });
      seen += 1;
      break;
    }
    expect(seen).toBe(1);
    expect(openFiles()).toBe(before);
  });

  it('rejects a missing file with ENOENT', async () => {
    await expect(collect(join(dir, 'does-not-exist.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('sniffBinary', () => {
  it('recognizes gzip and zip magic', () => {
    expect(sniffBinary(Buffer.from([0x1f, 0x8b, 0x08, 0x00]))).toEqual({ binary: true, reason: expect.stringMatching(/gzip/) });
    expect(sniffBinary(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14]))).toEqual({ binary: true, reason: expect.stringMatching(/zip/) });
  });

  it('finds a NUL byte and names its offset', () => {
    expect(sniffBinary(Buffer.from('abc\0def'))).toEqual({ binary: true, reason: 'NUL byte at offset 3' });
  });

  it('marks a high share of control characters as binary, but not tabs, newlines and form feeds', () => {
    expect(sniffBinary(Buffer.from('\x01\x02\x03abcdefg')).binary).toBe(true);
    expect(sniffBinary(Buffer.from('\t\t\n\r\n\f{"a":"b"}\n')).binary).toBe(false);
  });

  it('accepts plain and UTF-8 text, and an empty buffer', () => {
    expect(sniffBinary(Buffer.from('{"before":"x","after":"y"}\n'))).toEqual({ binary: false });
    expect(sniffBinary(Buffer.from('naïve € 😀\n'))).toEqual({ binary: false });
    expect(sniffBinary(Buffer.alloc(0))).toEqual({ binary: false });
  });

  it('a single gzip byte 0x1f is not gzip magic', () => {
    expect(sniffBinary(Buffer.from([0x1f])).reason ?? '').not.toContain('gzip');
  });
});

describe('firstInvalidUtf8Offset', () => {
  const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

  it('returns -1 for valid UTF-8 of every sequence length', () => {
    expect(firstInvalidUtf8Offset(Buffer.alloc(0))).toBe(-1);
    expect(firstInvalidUtf8Offset(Buffer.from('plain ascii'))).toBe(-1);
    expect(firstInvalidUtf8Offset(Buffer.from('é € 😀 \u{10FFFF} \u{FFFF}'))).toBe(-1);
    expect(firstInvalidUtf8Offset(b(0xc2, 0x80))).toBe(-1); // U+0080, smallest 2-byte
    expect(firstInvalidUtf8Offset(b(0xe0, 0xa0, 0x80))).toBe(-1); // U+0800, smallest 3-byte
    expect(firstInvalidUtf8Offset(b(0xf0, 0x90, 0x80, 0x80))).toBe(-1); // U+10000, smallest 4-byte
    expect(firstInvalidUtf8Offset(b(0xed, 0x9f, 0xbf))).toBe(-1); // U+D7FF, just below surrogates
    expect(firstInvalidUtf8Offset(b(0xee, 0x80, 0x80))).toBe(-1); // U+E000, just above surrogates
  });

  it('rejects overlong encodings at their first byte', () => {
    expect(firstInvalidUtf8Offset(b(0x41, 0xc0, 0x80))).toBe(1); // overlong NUL
    expect(firstInvalidUtf8Offset(b(0xc1, 0xbf))).toBe(0);
    expect(firstInvalidUtf8Offset(b(0x41, 0x42, 0xe0, 0x80, 0xaf))).toBe(2); // overlong "/"
    expect(firstInvalidUtf8Offset(b(0xe0, 0x9f, 0xbf))).toBe(0);
    expect(firstInvalidUtf8Offset(b(0xf0, 0x8f, 0xbf, 0xbf))).toBe(0);
  });

  it('rejects encoded surrogates', () => {
    expect(firstInvalidUtf8Offset(Buffer.concat([Buffer.from('ok'), b(0xed, 0xa0, 0x80)]))).toBe(2); // U+D800
    expect(firstInvalidUtf8Offset(b(0xed, 0xbf, 0xbf))).toBe(0); // U+DFFF
  });

  it('rejects code points above U+10FFFF and bytes that never occur in UTF-8', () => {
    expect(firstInvalidUtf8Offset(b(0xf4, 0x90, 0x80, 0x80))).toBe(0);
    expect(firstInvalidUtf8Offset(b(0x61, 0xf5, 0x80, 0x80, 0x80))).toBe(1);
    expect(firstInvalidUtf8Offset(b(0x61, 0x62, 0xff))).toBe(2);
    expect(firstInvalidUtf8Offset(b(0xfe))).toBe(0);
  });

  it('rejects a lone continuation byte', () => {
    expect(firstInvalidUtf8Offset(Buffer.concat([Buffer.from('é'), b(0x80)]))).toBe(2);
  });

  it('rejects truncated sequences at the end and before another character', () => {
    expect(firstInvalidUtf8Offset(Buffer.concat([Buffer.from('abc'), b(0xe2, 0x82)]))).toBe(3);
    expect(firstInvalidUtf8Offset(b(0xf0, 0x9f, 0x98))).toBe(0);
    expect(firstInvalidUtf8Offset(b(0xc3))).toBe(0);
    expect(firstInvalidUtf8Offset(b(0xe2, 0x82, 0x41))).toBe(0);
    expect(firstInvalidUtf8Offset(b(0xc3, 0xc3, 0xa9))).toBe(0);
  });

  it('agrees with a fatal TextDecoder on random byte strings, and the prefix before the offset is valid', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const valid = (buf: Buffer): boolean => {
      try {
        decoder.decode(buf);
        return true;
      } catch {
        return false;
      }
    };
    const rand = seededRandom(20240601);
    // Bytes biased towards lead and continuation bytes so multi-byte sequences are common.
    const pool = [0x41, 0x7f, 0x80, 0x8f, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    let invalid = 0;
    for (let n = 0; n < 5000; n += 1) {
      const len = 1 + Math.floor(rand() * 8);
      const buf = Buffer.from(Array.from({ length: len }, () => (rand() < 0.5 ? pool[Math.floor(rand() * pool.length)] : Math.floor(rand() * 256))));
      const offset = firstInvalidUtf8Offset(buf);
      expect({ buf: buf.toString('hex'), valid: offset === -1 }).toEqual({ buf: buf.toString('hex'), valid: valid(buf) });
      if (offset >= 0) {
        invalid += 1;
        expect(valid(buf.subarray(0, offset))).toBe(true);
      }
    }
    expect(invalid).toBeGreaterThan(1000);
  });
});
