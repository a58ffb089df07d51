import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_MESSAGE_BYTES, LineDecoder, type OversizedLine, encodeMessage } from '../../src/core/framing.js';
import type { JsonRpcMessage } from '../../src/core/jsonrpc.js';

const enc = new TextEncoder();
const bytesOf = (s: string) => enc.encode(s);

/** A decoder that records everything it delivers. */
function collector(maxLineBytes?: number) {
  const lines: string[] = [];
  const sizes: number[] = [];
  const oversized: OversizedLine[] = [];
  const decoder = new LineDecoder({
    ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
    onLine: (line, bytes) => {
      lines.push(line);
      sizes.push(bytes);
    },
    onOversized: (info) => oversized.push(info),
  });
  return { decoder, lines, sizes, oversized };
}

/** Splits `data` at the given (unsorted, possibly duplicate) cut points. */
function splitAt(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.min(data.length, Math.max(0, c))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('LineDecoder: basic framing', () => {
  it('delivers a line split across chunks', () => {
    const { decoder, lines, sizes } = collector();
    decoder.push(bytesOf('{"a":'));
    decoder.push(bytesOf('1'));
    expect(lines).toEqual([]);
    expect(decoder.bufferedBytes).toBe(6);
    decoder.push(bytesOf('}\n'));
    expect(lines).toEqual(['{"a":1}']);
    expect(sizes).toEqual([7]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('delivers many messages from one chunk, in order', () => {
    const { decoder, lines } = collector();
    const msgs = Array.from({ length: 100 }, (_, i) => `{"n":${i}}`);
    decoder.push(bytesOf(msgs.map((m) => `${m}\n`).join('')));
    expect(lines).toEqual(msgs);
  });

  it('handles a chunk that ends one line and starts the next', () => {
    const { decoder, lines } = collector();
    decoder.push(bytesOf('one'));
    decoder.push(bytesOf('\ntwo\nthr'));
    decoder.push(bytesOf('ee\n'));
    expect(lines).toEqual(['one', 'two', 'three']);
  });

  it('skips blank and whitespace-only lines and strips a trailing CR', () => {
    const { decoder, lines } = collector();
    decoder.push(bytesOf('\n\n  \n\r\nfirst\r\n\t\r\nsecond\n\n'));
    expect(lines).toEqual(['first', 'second']);
  });

  it('handles CRLF split between chunks', () => {
    const { decoder, lines } = collector();
    decoder.push(bytesOf('a\r'));
    decoder.push(bytesOf('\nb\r'));
    decoder.push(bytesOf('\n'));
    expect(lines).toEqual(['a', 'b']);
  });

  it('keeps an inner CR, only strips the final one', () => {
    const { decoder, lines } = collector();
    decoder.push(bytesOf('a\rb\r\n'));
    expect(lines).toEqual(['a\rb']);
  });

  it('reports the byte size of the line (including a stripped CR), not the character count', () => {
    const { decoder, lines, sizes } = collector();
    decoder.push(bytesOf('é😀\n'));
    decoder.push(bytesOf('x\r\n'));
    expect(lines).toEqual(['é😀', 'x']);
    expect(sizes).toEqual([6, 2]);
  });

  it('delivers a final line without newline on end()', () => {
    const { decoder, lines } = collector();
    decoder.push(bytesOf('a\nlast'));
    expect(lines).toEqual(['a']);
    decoder.end();
    expect(lines).toEqual(['a', 'last']);
    expect(decoder.bufferedBytes).toBe(0);
    decoder.end();
    expect(lines).toEqual(['a', 'last']);
  });

  it('end() with nothing pending delivers nothing', () => {
    const { decoder, lines, oversized } = collector();
    decoder.end();
    decoder.push(bytesOf('x\n'));
    decoder.end();
    expect(lines).toEqual(['x']);
    expect(oversized).toEqual([]);
  });

  it('ignores empty chunks', () => {
    const { decoder, lines } = collector();
    decoder.push(new Uint8Array(0));
    decoder.push(bytesOf('a'));
    decoder.push(new Uint8Array(0));
    decoder.push(bytesOf('\n'));
    expect(lines).toEqual(['a']);
  });

  it('uses a 16 MiB default limit', () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(16 * 1024 * 1024);
  });

  it('is not corrupted when the producer reuses its chunk buffer', () => {
    const { decoder, lines } = collector();
    const buf = new Uint8Array(8);
    buf.set(bytesOf('hello'));
    decoder.push(buf.subarray(0, 5));
    buf.set(bytesOf('XXXXXXXX'));
    buf.set(bytesOf(' wor'));
    decoder.push(buf.subarray(0, 4));
    buf.set(bytesOf('YYYYYYYY'));
    buf.set(bytesOf('ld\n'));
    decoder.push(buf.subarray(0, 3));
    expect(lines).toEqual(['hello world']);
  });
});

describe('LineDecoder: UTF-8', () => {
  const samples = ['😀 emoji 🎉', '中文字符 CJK 日本語 한국어', 'mixé ∑ 𝄞 \u{10FFFF} end', '{"text":"👩‍👩‍👧‍👦"}'];

  for (const text of samples) {
    it(`decodes ${JSON.stringify(text)} split at every byte position`, () => {
      const data = bytesOf(`${text}\n${text}\n`);
      for (let cut = 0; cut <= data.length; cut++) {
        const { decoder, lines } = collector();
        decoder.push(data.subarray(0, cut));
        decoder.push(data.subarray(cut));
        expect(lines).toEqual([text, text]);
      }
    });
  }

  it('decodes multi-byte text pushed one byte at a time', () => {
    const text = '😀中é𝄞'.repeat(20);
    const { decoder, lines } = collector();
    for (const b of bytesOf(`${text}\n`)) decoder.push(Uint8Array.of(b));
    expect(lines).toEqual([text]);
  });

  it('decodes text split at every pair of positions', () => {
    const text = '中😀é';
    const data = bytesOf(`${text}\n`);
    for (let a = 0; a <= data.length; a++) {
      for (let b = a; b <= data.length; b++) {
        const { decoder, lines } = collector();
        for (const part of splitAt(data, [a, b])) decoder.push(part);
        expect(lines).toEqual([text]);
      }
    }
  });
});

describe('LineDecoder: oversized lines', () => {
  it('accepts a line of exactly the limit', () => {
    const { decoder, lines, oversized } = collector(10);
    decoder.push(bytesOf(`${'a'.repeat(10)}\n`));
    expect(lines).toEqual(['a'.repeat(10)]);
    expect(oversized).toEqual([]);
  });

  it('skips a line one byte over the limit and delivers the next one', () => {
    const { decoder, lines, oversized } = collector(10);
    decoder.push(bytesOf(`${'a'.repeat(11)}\nnext\n`));
    expect(lines).toEqual(['next']);
    expect(oversized).toEqual([{ bytes: 11, limit: 10, head: 'a'.repeat(11), tail: 'a'.repeat(11) }]);
  });

  it('reports bytes, limit, head and tail of a long line in one chunk', () => {
    const { decoder, lines, oversized } = collector(1000);
    const line = `{"jsonrpc":"2.0","id":7,"result":"${'x'.repeat(5000)}","tail":"end"}`;
    decoder.push(bytesOf(`before\n${line}\nafter\n`));
    expect(lines).toEqual(['before', 'after']);
    expect(oversized).toHaveLength(1);
    const info = oversized[0]!;
    expect(info.bytes).toBe(line.length);
    expect(info.limit).toBe(1000);
    expect(info.head).toBe(line.slice(0, 512));
    expect(info.tail).toBe(line.slice(-512));
    expect(info.head).toContain('"id":7');
    expect(info.tail.endsWith('"tail":"end"}')).toBe(true);
  });

  it('skips an oversized line spread over many chunks, keeping bufferedBytes ≤ limit', () => {
    const limit = 2048;
    const { decoder, lines, oversized } = collector(limit);
    const line = `HEAD${'y'.repeat(100_000)}TAIL`;
    const data = bytesOf(`ok1\n${line}\nok2\n`);
    for (let i = 0; i < data.length; i += 97) {
      decoder.push(data.subarray(i, i + 97));
      expect(decoder.bufferedBytes).toBeLessThanOrEqual(limit);
    }
    expect(lines).toEqual(['ok1', 'ok2']);
    expect(oversized).toHaveLength(1);
    const info = oversized[0]!;
    expect(info.bytes).toBe(line.length);
    expect(info.limit).toBe(limit);
    expect(info.head).toBe(line.slice(0, 512));
    expect(info.tail).toBe(line.slice(-512));
  });

  it('head and tail are the line’s edges even when it arrives one byte at a time', () => {
    const { decoder, lines, oversized } = collector(600);
    const line = `${'a'.repeat(540)}"id":42${'b'.repeat(60)}`;
    for (const b of bytesOf(`${line}\nnext\n`)) decoder.push(Uint8Array.of(b));
    expect(lines).toEqual(['next']);
    expect(oversized).toHaveLength(1);
    expect(oversized[0]!.bytes).toBe(line.length);
    expect(oversized[0]!.head).toBe(line.slice(0, 512));
    expect(oversized[0]!.tail).toBe(line.slice(-512));
    expect(oversized[0]!.tail).toContain('"id":42');
  });

  it('reports an oversized final line without newline on end()', () => {
    const { decoder, lines, oversized } = collector(5);
    decoder.push(bytesOf('ok\n0123456789'));
    expect(oversized).toEqual([]);
    decoder.end();
    expect(lines).toEqual(['ok']);
    expect(oversized).toEqual([{ bytes: 10, limit: 5, head: '0123456789', tail: '0123456789' }]);
  });

  it('reports consecutive oversized lines separately', () => {
    const { decoder, lines, oversized } = collector(4);
    decoder.push(bytesOf('aaaaaa\nbbbbbbbb\ncc\n'));
    expect(lines).toEqual(['cc']);
    expect(oversized.map((o) => o.bytes)).toEqual([6, 8]);
  });

  it('works without an onOversized callback', () => {
    const lines: string[] = [];
    const decoder = new LineDecoder({ maxLineBytes: 3, onLine: (l) => lines.push(l) });
    decoder.push(bytesOf('toolong\nok\n'));
    expect(lines).toEqual(['ok']);
  });

  it('counts a trailing CR towards the limit', () => {
    const { decoder, lines, oversized } = collector(3);
    decoder.push(bytesOf('abc\r\nab\r\n'));
    expect(lines).toEqual(['ab']);
    expect(oversized.map((o) => o.bytes)).toEqual([4]);
  });
});

describe('LineDecoder: long input', () => {
  it('assembles one long line from 50 000 small chunks', () => {
    const chunk = bytesOf('0123456789abcdef'); // 16 bytes
    const { decoder, lines, sizes } = collector();
    for (let i = 0; i < 50_000; i++) decoder.push(chunk);
    expect(decoder.bufferedBytes).toBe(800_000);
    decoder.push(bytesOf('\n'));
    expect(lines).toHaveLength(1);
    expect(sizes).toEqual([800_000]);
    expect(lines[0]).toBe('0123456789abcdef'.repeat(50_000));
  });

  it('skips a 20 MB line fed in 4 KB chunks and keeps the next message', () => {
    const limit = 1024 * 1024;
    const { decoder, lines, oversized } = collector(limit);
    const block = new Uint8Array(4096).fill(0x61);
    const total = 20 * 1024 * 1024;
    for (let sent = 0; sent < total; sent += block.length) {
      decoder.push(block);
      expect(decoder.bufferedBytes).toBeLessThanOrEqual(limit);
    }
    decoder.push(bytesOf('\n{"ok":true}\n'));
    expect(lines).toEqual(['{"ok":true}']);
    expect(oversized).toHaveLength(1);
    expect(oversized[0]!.bytes).toBe(total);
  });
});

describe('LineDecoder: properties', () => {
  const text = fc.string({ unit: 'binary', maxLength: 30 });
  const id = fc.oneof(fc.integer(), text);
  const params = fc.oneof(
    fc.dictionary(text, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
    fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 5 }),
  );
  const message: fc.Arbitrary<JsonRpcMessage> = fc.oneof(
    fc.record({ jsonrpc: fc.constant('2.0' as const), id, method: text, params }),
    fc.record({ jsonrpc: fc.constant('2.0' as const), method: text }),
    fc.record({ jsonrpc: fc.constant('2.0' as const), id, result: fc.jsonValue({ maxDepth: 4 }) }),
    fc.record({
      jsonrpc: fc.constant('2.0' as const),
      id: fc.oneof(id, fc.constant(null)),
      error: fc.record({ code: fc.integer(), message: text, data: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ['code', 'message'] }),
    }),
  );

  it('encoded messages split at random points decode to the same messages in order', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (msgs, cuts) => {
        const encoded = msgs.map(encodeMessage);
        for (const e of encoded) {
          expect(e.endsWith('\n')).toBe(true);
          expect(e.slice(0, -1)).not.toContain('\n');
        }
        const data = bytesOf(encoded.join(''));
        const { decoder, lines } = collector();
        for (const part of splitAt(data, cuts.map((c) => (data.length ? c % (data.length + 1) : 0)))) decoder.push(part);
        decoder.end();
        expect(lines.map((l) => JSON.parse(l))).toEqual(msgs.map((m) => JSON.parse(JSON.stringify(m))));
      }),
      { numRuns: 200 },
    );
  });

  it('random bytes in random chunks never throw and always deliver strings', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
        (data, cuts, max) => {
          const { decoder, lines, sizes } = collector(max);
          for (const part of splitAt(data, cuts.map((c) => c % (data.length + 1)))) decoder.push(part);
          decoder.end();
          for (const l of lines) {
            expect(typeof l).toBe('string');
            expect(l.trim()).not.toBe('');
            expect(l).not.toContain('\n');
          }
          expect(sizes.every((s) => Number.isInteger(s) && s > 0)).toBe(true);
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with a small limit, no delivered line exceeds it and the skipped ones are reported', () => {
    const line = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/[\n\r]/g, ''));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), fc.integer({ min: 1, max: 40 }), fc.array(fc.nat(), { maxLength: 20 }), (raw, limit, cuts) => {
        const data = bytesOf(raw.map((l) => `${l}\n`).join(''));
        const { decoder, lines, sizes, oversized } = collector(limit);
        for (const part of splitAt(data, cuts.map((c) => c % (data.length + 1)))) decoder.push(part);
        decoder.end();
        for (let i = 0; i < lines.length; i++) {
          expect(bytesOf(lines[i]!).length).toBeLessThanOrEqual(limit);
          expect(sizes[i]).toBeLessThanOrEqual(limit);
        }
        const expectedLines = raw.filter((l) => l.trim() !== '' && bytesOf(l).length <= limit);
        const expectedOversized = raw.filter((l) => bytesOf(l).length > limit).map((l) => bytesOf(l).length);
        expect(lines).toEqual(expectedLines);
        expect(oversized.map((o) => o.bytes)).toEqual(expectedOversized);
        for (const o of oversized) expect(o.limit).toBe(limit);
      }),
      { numRuns: 300 },
    );
  });

  it('bufferedBytes never exceeds the limit, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 100 }), fc.array(fc.nat(), { maxLength: 40 }), (data, limit, cuts) => {
        const { decoder } = collector(limit);
        for (const part of splitAt(data, cuts.map((c) => c % (data.length + 1)))) {
          decoder.push(part);
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(limit);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('the same bytes decode the same way regardless of chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 1, max: 64 }), (data, cuts, limit) => {
        const whole = collector(limit);
        whole.decoder.push(data);
        whole.decoder.end();
        const parts = collector(limit);
        for (const part of splitAt(data, cuts.map((c) => c % (data.length + 1)))) parts.decoder.push(part);
        parts.decoder.end();
        expect(parts.lines).toEqual(whole.lines);
        expect(parts.sizes).toEqual(whole.sizes);
        expect(parts.oversized.map((o) => o.bytes)).toEqual(whole.oversized.map((o) => o.bytes));
        expect(parts.oversized.map((o) => [o.head, o.tail])).toEqual(whole.oversized.map((o) => [o.head, o.tail]));
      }),
      { numRuns: 200 },
    );
  });

  it('a chunk-independent concat helper sanity check', () => {
    const data = bytesOf('abc\ndef');
    expect(concatBytes(splitAt(data, [1, 5, 5, 99]))).toEqual(data);
  });
});

describe('LineDecoder: whole lines of a chunk decoded together', () => {
  it('cuts one chunk of many multi-byte lines into the right lines and byte sizes', () => {
    const { decoder, lines, sizes } = collector();
    decoder.push(bytesOf('é\n😀😀\r\n\n  \nplain\nhalf'));
    decoder.push(bytesOf('-done\n'));
    expect(lines).toEqual(['é', '😀😀', 'plain', 'half-done']);
    expect(sizes).toEqual([2, 9, 5, 9]);
  });

  it('strips a byte order mark at the start of any line, wherever the chunk boundaries fall', () => {
    const text = '\uFEFF{"a":1}\n\uFEFF{"b":2}\n';
    const whole = collector();
    whole.decoder.push(bytesOf(text));
    const split = collector();
    for (const b of bytesOf(text)) split.decoder.push(new Uint8Array([b]));
    expect(whole.lines).toEqual(['{"a":1}', '{"b":2}']);
    expect(split.lines).toEqual(whole.lines);
  });

  it('does not decode a chunk region holding a line over the limit as text (edges only)', () => {
    const { decoder, lines, oversized } = collector(8);
    decoder.push(bytesOf(`ok\n${'x'.repeat(20)}\nfine\n`));
    expect(lines).toEqual(['ok', 'fine']);
    expect(oversized).toEqual([expect.objectContaining({ bytes: 20, limit: 8 })]);
  });
});

describe('LineDecoder: reusesChunks', () => {
  it('keeps views of the chunks it was given when the producer never reuses them (no copy)', () => {
    const lines: string[] = [];
    const decoder = new LineDecoder({ reusesChunks: false, onLine: (line) => lines.push(line) });
    const first = bytesOf('{"a":');
    decoder.push(first);
    first[2] = 0x41; // 'A': visible only because the decoder kept a view, not a copy
    decoder.push(bytesOf('1}\n'));
    expect(lines).toEqual(['{"A":1}']);
  });
});
