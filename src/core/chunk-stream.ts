/**
 * ChunkStream: the chunks of one streamed result (mcp-ipc's `notifications/stream/chunk`
 * extension) for one async-iterator consumer. The producer pushes chunks in order and ends or
 * fails the stream when the request settles; the consumer iterates at its own pace (chunks are
 * buffered until read). Breaking out of the loop drops what is buffered.
 */
import type { IpcError } from './errors.js';

export interface StreamChunk {
  seq: number;
  data: string;
  encoding?: 'utf8' | 'base64';
}

export class ChunkStream implements AsyncIterable<StreamChunk> {
  private readonly buffered: StreamChunk[] = [];
  private waiter: { resolve: (r: IteratorResult<StreamChunk>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private error: IpcError | undefined;

  push(chunk: StreamChunk): void {
    if (this.done) return; // the consumer left (return()): buffering would keep a large result alive for nothing
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: chunk, done: false });
    } else this.buffered.push(chunk);
  }

  end(): void {
    this.done = true;
    this.flushWaiter();
  }

  fail(error: IpcError): void {
    this.error = error;
    this.done = true;
    this.flushWaiter();
  }

  private flushWaiter(): void {
    if (!this.waiter || this.buffered.length > 0) return;
    const w = this.waiter;
    this.waiter = undefined;
    if (this.error) w.reject(this.error);
    else w.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamChunk> {
    return {
      next: () => {
        const chunk = this.buffered.shift();
        if (chunk) return Promise.resolve({ value: chunk, done: false });
        if (this.done) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: () => {
        this.buffered.length = 0;
        this.done = true;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
