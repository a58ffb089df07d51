/**
 * Newline framing for stdio (MCP stdio transport: one JSON-RPC message per line, UTF-8).
 *
 * The decoder works on bytes, so a multi-byte character split across chunks is never corrupted
 * (0x0A never occurs inside a UTF-8 sequence). It is linear in its input: the bytes of a line are
 * kept as a list of chunk slices and joined once, when the newline arrives. The whole lines of a
 * chunk — nearly all of them at high call rates — are decoded to text in one go and cut there,
 * so a line costs no byte views, buffers or arrays of its own. A line longer than
 * `maxLineBytes` is not buffered at all: its first and last bytes are kept (to recover the request
 * id) and the rest is skipped up to the next newline.
 */
import type { JsonRpcMessage } from './jsonrpc.js';

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Bytes kept from each end of an oversized line, enough to find its `"id"`. */
const EDGE_BYTES = 512;
const NEWLINE = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const BOM = 0xfeff;

export interface OversizedLine {
  bytes: number;
  limit: number;
  /** The line's first bytes, decoded (lossy at the cut). */
  head: string;
  /** The line's last bytes, decoded (lossy at the cut). */
  tail: string;
}

export interface LineDecoderOptions {
  maxLineBytes?: number;
  /** Called for every non-blank line, without its newline (and without a trailing `\r`). */
  onLine: (line: string, bytes: number) => void;
  onOversized?: (info: OversizedLine) => void;
  /**
   * Whether the producer may reuse a chunk's memory after `push` returns, so that the unfinished
   * rest of a line must be copied before it is kept. Node streams hand over a fresh Buffer per
   * read: `false` there spares a copy of every message that spans chunks (all large results).
   * @default true
   */
  reusesChunks?: boolean;
  /**
   * Decodes a line that arrived in pieces (several chunks) to text: UTF-8, each invalid sequence as
   * U+FFFD, a BOM kept — exactly as `TextDecoder('utf-8', { ignoreBOM: true })` decodes the pieces
   * joined. Large results are such lines. The default joins the pieces into a new Uint8Array and
   * decodes that; a runtime may do it cheaper (the stdio transport passes Node's `lineText`).
   */
  joinText?: (pieces: readonly Uint8Array[], bytes: number) => string;
}

export class LineDecoder {
  private readonly max: number;
  private readonly onLine: LineDecoderOptions['onLine'];
  private readonly onOversized: NonNullable<LineDecoderOptions['onOversized']>;
  private readonly copyRetained: boolean;
  private readonly joinText: (pieces: readonly Uint8Array[], bytes: number) => string;
  /** BOMs are stripped per line (deliver), not only where a decode call starts: lines decode alike however they were chunked. */
  private readonly text = new TextDecoder('utf-8', { ignoreBOM: true });
  private pieces: Uint8Array[] = [];
  private pending = 0;
  /** Set while skipping an oversized line: its size so far and its first bytes. */
  private skipping: { bytes: number; head: Uint8Array; tail: Uint8Array } | undefined;

  constructor(options: LineDecoderOptions) {
    this.max = options.maxLineBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.onLine = options.onLine;
    this.onOversized = options.onOversized ?? (() => undefined);
    this.copyRetained = options.reusesChunks ?? true;
    this.joinText = options.joinText ?? ((pieces, bytes) => this.text.decode(pieces.length === 1 ? pieces[0]! : concat(pieces, bytes)));
  }

  /** Bytes held for an unfinished line (bounded by `maxLineBytes`). */
  get bufferedBytes(): number {
    return this.pending;
  }

  push(chunk: Uint8Array): void {
    let start = 0;
    // Finish a line begun in an earlier chunk first (or the one being skipped).
    if (this.pending > 0 || this.skipping) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl === -1) {
        if (chunk.length > 0) this.append(chunk, true);
        return;
      }
      if (nl > 0) this.append(chunk.subarray(0, nl));
      this.finishLine();
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    // Whole lines, unless some may be over the limit (those take the careful path below).
    if (last >= start && last - start <= this.max) {
      this.wholeLines(chunk, start, last);
      start = last + 1;
    }
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      // The rest of an unfinished line outlives this call: copy it (the producer may reuse `chunk`).
      if (end > start) this.append(chunk.subarray(start, end), nl === -1);
      if (nl === -1) return;
      this.finishLine();
      start = nl + 1;
    }
  }

  /**
   * The lines of `chunk` from `start` up to the newline at `last`, each complete: one decode for
   * all of them (a cut at a newline never splits a UTF-8 sequence, so this equals decoding each
   * line alone), then the text is cut at its newlines, in step with the bytes for each line's size.
   */
  private wholeLines(chunk: Uint8Array, start: number, last: number): void {
    const text = this.text.decode(chunk.subarray(start, last));
    let from = start;
    let at = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, from);
      const textNl = nl === last ? text.length : text.indexOf('\n', at);
      this.deliver(at === 0 && textNl === text.length ? text : text.slice(at, textNl), nl - from);
      if (nl === last) return;
      from = nl + 1;
      at = textNl + 1;
    }
  }

  /** End of input: a final line without a newline is still delivered. */
  end(): void {
    if (this.pending > 0 || this.skipping) this.finishLine();
  }

  private append(slice: Uint8Array, retained = false): void {
    if (this.skipping) {
      const s = this.skipping;
      s.bytes += slice.length;
      if (s.head.length < EDGE_BYTES) s.head = concat([s.head, slice.subarray(0, EDGE_BYTES - s.head.length)]);
      s.tail = keepTail(s.tail, slice);
      return;
    }
    if (this.pending + slice.length > this.max) {
      // Start skipping with the edges of what is buffered, then account for `slice` as skipped bytes.
      const buffered = concat(this.pieces, this.pending);
      this.skipping = {
        bytes: buffered.length,
        head: buffered.slice(0, EDGE_BYTES),
        tail: buffered.slice(Math.max(0, buffered.length - EDGE_BYTES)),
      };
      this.pieces = [];
      this.pending = 0;
      this.append(slice);
      return;
    }
    // Keep a view of a line that ends within this chunk; copy a piece that must outlive the call.
    this.pieces.push(retained && this.copyRetained ? slice.slice() : slice);
    this.pending += slice.length;
  }

  private finishLine(): void {
    if (this.skipping) {
      const s = this.skipping;
      this.skipping = undefined;
      this.onOversized({ bytes: s.bytes, limit: this.max, head: this.text.decode(s.head), tail: this.text.decode(s.tail) });
      return;
    }
    if (this.pending === 0) return;
    const pieces = this.pieces;
    const size = this.pending;
    this.pieces = [];
    this.pending = 0;
    this.deliver(this.joinText(pieces, size), size);
  }

  /** Hands on a decoded line: without its BOM and final CR, and not when it is blank. */
  private deliver(line: string, bytes: number): void {
    if (line.charCodeAt(0) === BOM) line = line.slice(1);
    if (line.charCodeAt(line.length - 1) === CR) line = line.slice(0, -1);
    // Only a line that starts with white space (or is empty) can be blank: spare trim() the rest.
    if (!(line.charCodeAt(0) > SPACE) && line.trim() === '') return;
    this.onLine(line, bytes);
  }
}

function concat(parts: readonly Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function keepTail(previous: Uint8Array, slice: Uint8Array): Uint8Array {
  if (slice.length >= EDGE_BYTES) return slice.slice(slice.length - EDGE_BYTES);
  const joined = concat([previous, slice]);
  return joined.slice(Math.max(0, joined.length - EDGE_BYTES));
}

/** One message as a line of the stdio transport. */
export const encodeMessage = (message: JsonRpcMessage): string => `${JSON.stringify(message)}\n`;
