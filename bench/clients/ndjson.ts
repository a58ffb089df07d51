/**
 * Newline-delimited JSON framing for vscode-jsonrpc, whose own stream reader and writer speak LSP's
 * `Content-Length` framing. The writer sends each message as one line in one write, resolving when
 * the stream has taken it (like vscode's StreamMessageWriter, minus the header write); the reader
 * splits lines on Buffers and hands each parsed message to the connection.
 */
import type { Readable, Writable } from 'node:stream';
import rpc from 'vscode-jsonrpc/node.js';
import type { DataCallback, Disposable, Message } from 'vscode-jsonrpc/node.js';

const NEWLINE = 0x0a;

export class NdjsonMessageReader extends rpc.AbstractMessageReader {
  private rest: Buffer[] = [];
  private readonly readable: Readable;

  constructor(readable: Readable) {
    super();
    this.readable = readable;
  }

  listen(callback: DataCallback): Disposable {
    const onLine = (text: string) => {
      try {
        callback(JSON.parse(text) as Message);
      } catch (error) {
        this.fireError(error);
      }
    };
    const onData = (chunk: Buffer) => {
      let start = 0;
      let nl = chunk.indexOf(NEWLINE);
      if (nl !== -1 && this.rest.length > 0) {
        this.rest.push(chunk.subarray(0, nl));
        const line = Buffer.concat(this.rest);
        this.rest = [];
        onLine(line.toString('utf8'));
        start = nl + 1;
        nl = chunk.indexOf(NEWLINE, start);
      }
      while (nl !== -1) {
        if (nl > start) onLine(chunk.toString('utf8', start, nl));
        start = nl + 1;
        nl = chunk.indexOf(NEWLINE, start);
      }
      if (start < chunk.length) this.rest.push(start === 0 ? chunk : chunk.subarray(start));
    };
    const onEnd = () => this.fireClose();
    const onError = (error: Error) => this.fireError(error);
    this.readable.on('data', onData);
    this.readable.on('end', onEnd);
    this.readable.on('error', onError);
    return {
      dispose: () => {
        this.readable.off('data', onData);
        this.readable.off('end', onEnd);
        this.readable.off('error', onError);
      },
    };
  }
}

export class NdjsonMessageWriter extends rpc.AbstractMessageWriter {
  private readonly writable: Writable;

  constructor(writable: Writable) {
    super();
    this.writable = writable;
  }

  write(msg: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      this.writable.write(`${JSON.stringify(msg)}\n`, (error) => {
        if (error) {
          this.fireError(error, msg);
          reject(error);
        } else resolve();
      });
    });
  }

  end(): void {
    this.writable.end();
  }
}
