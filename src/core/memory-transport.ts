/**
 * Two linked in-process transports (like the MCP SDK's InMemoryTransport): what one sends, the other
 * receives, asynchronously and in order. For in-process servers and for tests of the engine itself.
 */
import { NotConnectedError } from './errors.js';
import type { Diagnostic, JsonRpcMessage } from './jsonrpc.js';
import type { Transport } from './transport.js';

export class MemoryTransport implements Transport {
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  ondiagnostic?: (diagnostic: Diagnostic) => void;
  peer: MemoryTransport | undefined;
  private closed = false;
  private started = false;
  private readonly early: JsonRpcMessage[] = [];

  /** A linked pair: `[client, server]`. */
  static pair(): [MemoryTransport, MemoryTransport] {
    const a = new MemoryTransport();
    const b = new MemoryTransport();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  async start(): Promise<void> {
    this.started = true;
    for (const m of this.early.splice(0)) this.onmessage?.(m);
  }

  async send(message: JsonRpcMessage): Promise<void> {
    const peer = this.peer;
    if (this.closed || !peer || peer.closed) throw new NotConnectedError('Memory transport closed');
    // Structured copy: the receiver must not share objects with the sender (as over a real wire).
    const copy = JSON.parse(JSON.stringify(message)) as JsonRpcMessage;
    queueMicrotask(() => peer.deliver(copy));
  }

  private deliver(message: JsonRpcMessage): void {
    if (this.closed) return;
    if (!this.started) this.early.push(message);
    else this.onmessage?.(message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const peer = this.peer;
    this.onclose?.();
    if (peer && !peer.closed) await peer.close();
  }
}
