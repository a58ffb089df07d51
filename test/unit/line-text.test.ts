import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_MAX_MESSAGE_BYTES, LineDecoder } from '../../src/core/framing.js';
import { LineJoiner, lineText } from '../../src/node/line-text.js';

const reference = new TextDecoder('utf-8', { ignoreBOM: true });
const enc = new TextEncoder();

/** `data` cut at the given points, as views (what a stream's reads look like). */
function piecesOf(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

/** Bytes that stress a UTF-8 decoder: ASCII, valid multi-byte sequences, lone and truncated ones, BOMs. */
const utf8ish = fc
  .array(
    fc.oneof(
      fc.constantFrom(0x41, 0x7b, 0x22, 0x5c, 0x7f, 0x00),
      fc.constantFrom(0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f, 0xbb),
      fc.integer({ min: 0, max: 255 }),
    ),
    { maxLength: 300 },
  )
  .map((bytes) => Uint8Array.from(bytes));

describe('lineText (the stdio transport’s joinText)', () => {
  afterEach(() => vi.useRealTimers());

  it('decodes exactly as TextDecoder over the joined bytes, however the line was cut', () => {
    fc.assert(
      fc.property(fc.oneof(utf8ish, fc.string({ unit: 'binary', maxLength: 200 }).map((s) => enc.encode(s))), fc.array(fc.nat(), { maxLength: 12 }), (data, cuts) => {
        const pieces = piecesOf(data, cuts);
        expect(lineText(pieces)).toBe(reference.decode(data));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a BOM and turns invalid and truncated sequences into U+FFFD', () => {
    const data = Uint8Array.from([0xef, 0xbb, 0xbf, 0x41, 0xe2, 0x82, 0x41, 0xff, 0xf0, 0x9f, 0x98]);
    expect(lineText(piecesOf(data, [2, 5, 9]))).toBe('\uFEFFA\uFFFDA\uFFFD\uFFFD');
    // A character cut between two pieces is whole again.
    const euro = enc.encode('x€y');
    expect(lineText([euro.subarray(0, 2), euro.subarray(2)])).toBe('x€y');
  });

  it('decodes a large ASCII line (an external string in Node) and a large non-ASCII one', () => {
    const ascii = enc.encode(`{"text":"${'x'.repeat(3 * 1024 * 1024)}"}`);
    const text = lineText(piecesOf(ascii, [65_536, 131_072, 2_000_000]));
    expect(text.length).toBe(ascii.length);
    expect(JSON.parse(text)).toEqual({ text: 'x'.repeat(3 * 1024 * 1024) });
    const wide = enc.encode(`{"text":"${'é'.repeat(1024 * 1024)}"}`);
    expect(JSON.parse(lineText(piecesOf(wide, [65_537, 999_999])))).toEqual({ text: 'é'.repeat(1024 * 1024) });
  });

  it('returns text that does not change when the join buffer is reused for the next line', () => {
    const size = 2 * 1024 * 1024;
    const first = new Uint8Array(size).fill(0x61);
    const second = new Uint8Array(size).fill(0x62);
    const a = lineText(piecesOf(first, [100, size - 100]));
    const b = lineText(piecesOf(second, [200, size - 200]));
    expect(a).toBe('a'.repeat(size));
    expect(b).toBe('b'.repeat(size));
  });

  it('keeps the join buffer while lines use it and releases it when idle', () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    const joiner = new LineJoiner({ idleMs: 1000 });
    const data = new Uint8Array(300_000).fill(0x20);
    const pieces = piecesOf(data, [1000]);
    expect(joiner.bufferBytes).toBe(0);
    joiner.text(pieces);
    expect(joiner.bufferBytes).toBe(data.length);
    // A line in every period: kept (and a smaller line reuses it).
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(1000);
      joiner.text(pieces.map((p) => p.subarray(0, 10)));
    }
    expect(joiner.bufferBytes).toBe(data.length);
    // Idle for two periods at most: released.
    vi.advanceTimersByTime(2000);
    expect(joiner.bufferBytes).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    // And made again when needed.
    expect(joiner.text(pieces)).toBe(' '.repeat(data.length));
    expect(joiner.bufferBytes).toBe(data.length);
  });

  it('keeps no buffer for a line over maxKeptBytes (default: the default message limit)', () => {
    const small = new LineJoiner({ maxKeptBytes: 100 });
    const data = new Uint8Array(101).fill(0x7a);
    expect(small.text(piecesOf(data, [1, 50]))).toBe('z'.repeat(101));
    expect(small.bufferBytes).toBe(0);
    const joiner = new LineJoiner();
    const big = new Uint8Array(DEFAULT_MAX_MESSAGE_BYTES + 1).fill(0x7a);
    expect(joiner.text(piecesOf(big, [1, 65_536])).length).toBe(big.length);
    expect(joiner.bufferBytes).toBe(0);
    const limit = new Uint8Array(DEFAULT_MAX_MESSAGE_BYTES).fill(0x7a);
    expect(joiner.text(piecesOf(limit, [1, 65_536])).length).toBe(limit.length);
    expect(joiner.bufferBytes).toBe(DEFAULT_MAX_MESSAGE_BYTES);
  });

  it('gives a LineDecoder the same lines as its default decoding', () => {
    fc.assert(
      fc.property(utf8ish, fc.array(fc.nat(), { maxLength: 12 }), (data, cuts) => {
        const decode = (joinText?: typeof lineText) => {
          const lines: string[] = [];
          const decoder = new LineDecoder({ onLine: (line) => lines.push(line), ...(joinText ? { joinText } : {}) });
          for (const piece of piecesOf(data, cuts)) decoder.push(piece);
          decoder.end();
          return lines;
        };
        expect(decode(lineText)).toEqual(decode());
      }),
      { numRuns: 300 },
    );
  });
});
