/**
 * How the stdio transport turns a line that arrived in pieces (several reads) into text: the path
 * of every large result. The text is exactly the core's default — `TextDecoder('utf-8',
 * { ignoreBOM: true })` over the joined bytes — but it costs less:
 *
 * - The pieces are joined in a buffer kept for the next line, not in a new zero-filled one per
 *   line: without it a 10 MiB result costs 10 MiB more of fresh memory (page faults, and external
 *   memory that hastens major GCs). The buffer grows to the largest such line up to
 *   DEFAULT_MAX_MESSAGE_BYTES (a larger line, possible only with a raised limit, gets one of its
 *   own) and is released once no line has used it for `idleMs`. One joiner serves every transport
 *   of the process (`lineText`): joining and decoding are synchronous, so they never overlap.
 * - A line of ASCII only — most JSON — is decoded as Latin-1, the same text for those bytes. Node
 *   keeps a Latin-1 string of a MiB or more outside the V8 heap, in memory freed with the string:
 *   a 10 MiB result then makes one large heap object (its parsed text) instead of two. `isAscii`
 *   is a SIMD scan, a small fraction of the copy, and stops at the first other byte.
 */
import { isAscii } from 'node:buffer';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../core/framing.js';

/** How long the join buffer outlives the last line that used it, by default. */
const IDLE_MS = 10_000;

export interface LineJoinerOptions {
  /** How long the join buffer outlives the last line that used it (it goes after one to two such periods). @default 10000 */
  idleMs?: number;
  /** Largest join buffer kept between lines. @default DEFAULT_MAX_MESSAGE_BYTES (16 MiB) */
  maxKeptBytes?: number;
}

export class LineJoiner {
  private readonly idleMs: number;
  private readonly maxKeptBytes: number;
  private readonly utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  private buffer: Buffer | undefined;
  private usedSinceCheck = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: LineJoinerOptions = {}) {
    this.idleMs = options.idleMs ?? IDLE_MS;
    this.maxKeptBytes = options.maxKeptBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes held by the join buffer between lines (0 when there is none). */
  get bufferBytes(): number {
    return this.buffer?.length ?? 0;
  }

  /**
   * The text of a line given as pieces (a LineDecoderOptions.joinText). The size is counted here
   * rather than taken from the caller: a buffer is never read beyond what was written into it.
   */
  readonly text = (pieces: readonly Uint8Array[]): string => {
    const joined = pieces.length === 1 ? asBuffer(pieces[0]!) : this.join(pieces);
    return isAscii(joined) ? joined.toString('latin1') : this.utf8.decode(joined);
  };

  private join(pieces: readonly Uint8Array[]): Buffer {
    let bytes = 0;
    for (const piece of pieces) bytes += piece.length;
    let target = this.buffer;
    if (target === undefined || target.length < bytes) {
      target = Buffer.allocUnsafeSlow(bytes);
      if (bytes <= this.maxKeptBytes) this.buffer = target;
    }
    if (target === this.buffer) this.keep();
    let at = 0;
    for (const piece of pieces) {
      target.set(piece, at);
      at += piece.length;
    }
    return target.subarray(0, bytes);
  }

  /** Marks the buffer used; one unref'd timer (not one per line) releases it after an idle period. */
  private keep(): void {
    this.usedSinceCheck = true;
    if (this.timer === undefined) this.timer = setTimeout(this.check, this.idleMs).unref();
  }

  private readonly check = (): void => {
    if (this.usedSinceCheck) {
      this.usedSinceCheck = false;
      this.timer = setTimeout(this.check, this.idleMs).unref();
    } else {
      this.buffer = undefined;
      this.timer = undefined;
    }
  };
}

const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** The joiner shared by the process's stdio transports. */
export const lineText = new LineJoiner().text;
