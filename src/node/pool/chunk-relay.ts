/**
 * ChunkRelay: the chunks of a streamed pool call for one async-iterator consumer. Fed by the
 * `onChunk` callback of whichever attempt runs (a call moves to another replica only before its
 * first chunk), ended by the call's result.
 */
import type { IpcError } from '../../core/errors.js';
import type { StreamChunk } from '../../core/ipc-manager.js';

export class ChunkRelay implements AsyncIterable<StreamChunk> {
  private readonly buffered: StreamChunk[] = [];
  private waiter: { resolve: (r: IteratorResult<StreamChunk>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private error: IpcError | undefined;
  private dropped = false;

  push(chunk: StreamChunk): void {
    if (this.dropped) return; // the consumer stopped reading: keep nothing
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.resolve({ value: chunk, done: false });
    } else this.buffered.push(chunk);
  }

  end(): void {
    this.done = true;
    this.flush();
  }

  fail(error: IpcError): void {
    this.error = error;
    this.done = true;
    this.flush();
  }

  private flush(): void {
    const w = this.waiter;
    if (!w || this.buffered.length > 0) return;
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
        this.dropped = true;
        this.done = true;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
