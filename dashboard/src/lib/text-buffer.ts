/**
 * Accumulates streamed result text but keeps only the first `limit` characters for display, so a
 * 50 MB result never lands in the DOM; the rest is only counted.
 */
import { utf8Bytes } from './format.js';

export const DISPLAY_LIMIT_CHARS = 200 * 1024;

export class TextBuffer {
  shown = '';
  totalBytes = 0;
  shownBytes = 0;
  chunks = 0;

  constructor(private readonly limit = DISPLAY_LIMIT_CHARS) {}

  append(data: string): void {
    this.chunks += 1;
    this.totalBytes += utf8Bytes(data);
    const room = this.limit - this.shown.length;
    if (room <= 0) return;
    const piece = data.length <= room ? data : data.slice(0, room);
    this.shown += piece;
    this.shownBytes += piece === data ? utf8Bytes(data) : utf8Bytes(piece);
  }

  get hiddenBytes(): number {
    return this.totalBytes - this.shownBytes;
  }
}
