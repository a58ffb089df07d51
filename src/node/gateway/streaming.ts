/**
 * A `tools/call` whose result travels as `notifications/stream/chunk` to the browser that asked
 * (`_meta.streamToken`), so that no frame carries a huge result.
 */
import { CancelledError, NotConnectedError } from '../../core/errors.js';
import type { CallToolResult } from '../../core/gateway-protocol.js';
import { STREAMED_META_KEY } from '../../core/gateway-protocol.js';
import { notification } from '../../core/jsonrpc.js';
import type { StreamingCallOptions } from '../mcp-bridge.js';
import type { McpServerHandle } from '../server-handle.js';
import type { Peer } from './connection.js';

/**
 * If the server streamed (the mcp-ipc extension), its chunks are forwarded as they come and its
 * final result stands. If it answered whole, each text block's text is sent as chunks here, in
 * content order, and the block stays in its place marked with the chunks that carry it
 * (STREAMED_META_KEY): a result of `[text, image, text]` is rebuilt in that order and with those types.
 */
export async function streamToolCall(
  peer: Peer,
  bridge: McpServerHandle,
  tool: string,
  args: Record<string, unknown>,
  options: StreamingCallOptions,
  streamToken: string | number,
  signal: AbortSignal,
  chunkChars: number,
): Promise<CallToolResult> {
  let seq = 0;
  const sendChunk = (data: string) => peer.send(notification('notifications/stream/chunk', { streamToken, seq: seq++, data }));
  const request = bridge.callStreaming(tool, args, options);
  let pumpError: unknown;
  const pump = (async () => {
    // Forwarded as they come; a client that cannot keep up is dropped (bounded send buffer)
    // rather than letting chunks pile up here.
    for await (const chunk of request.chunks) {
      if (signal.aborted || peer.signal.aborted || !sendChunk(chunk.data)) break;
    }
  })().catch((error: unknown) => {
    pumpError = error;
  });
  let result: CallToolResult;
  try {
    result = await request.result;
  } catch (error) {
    await pump;
    throw error;
  }
  await pump;
  if (pumpError !== undefined && seq === 0) throw pumpError;
  if (seq > 0) return result; // the server streamed: its final result stands

  const stopped = () => {
    if (signal.aborted) throw new CancelledError('Request cancelled while streaming the result', { reason: String(signal.reason ?? 'cancelled'), phase: 'in-flight' });
    if (peer.signal.aborted) throw new NotConnectedError('Connection closed while streaming the result');
  };
  let bytes = 0;
  const content: CallToolResult['content'] = [];
  for (const block of Array.isArray(result.content) ? result.content : []) {
    if (block?.type !== 'text' || typeof block.text !== 'string') {
      content.push(block);
      continue;
    }
    const first = seq;
    for (const piece of splitText(block.text, chunkChars)) {
      stopped();
      await peer.writable(signal);
      stopped();
      sendChunk(piece);
      bytes += Buffer.byteLength(piece, 'utf8');
    }
    const blockMeta = typeof block._meta === 'object' && block._meta !== null ? (block._meta as Record<string, unknown>) : {};
    content.push({ ...block, text: '', _meta: { ...blockMeta, [STREAMED_META_KEY]: { first, count: seq - first } } });
  }
  stopped();
  return { ...result, content, _meta: { ...result._meta, streamed: { chunks: seq, bytes } } };
}

/** Splits text into pieces of at most `size` UTF-16 units, never between the halves of a surrogate pair. */
export function splitText(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + size);
    if (end < text.length && end > i + 1) {
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--;
    }
    pieces.push(text.slice(i, end));
    i = end;
  }
  return pieces;
}
