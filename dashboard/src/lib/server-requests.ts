/**
 * Requests a server makes of the person at the screen (sampling, elicitation): each waits in an
 * inbox until the dialog answers it. The inbox is the handler the dashboard registers with the
 * client; the dialog shows the oldest pending request. Pure apart from its store, so the answers'
 * shapes (MCP's `CreateMessageResult`, `ElicitResult`) are unit-tested.
 */
import { writable, type Readable } from 'svelte/store';

export const SAMPLING = 'sampling/createMessage';
export const ELICITATION = 'elicitation/create';

export interface PendingRequest {
  id: number;
  server: string;
  method: string;
  params: Record<string, unknown>;
  /** Epoch ms. */
  receivedAt: number;
}

/** The person said no to a sampling request: the server gets a JSON-RPC error (MCP: "user rejected"). */
export class DeclinedError extends Error {
  readonly code = -1;
  constructor(message: string) {
    super(message);
    this.name = 'DeclinedError';
  }
}

export interface RequestInbox extends Readable<readonly PendingRequest[]> {
  /**
   * The handler: resolves with the person's answer. When `signal` aborts (the server cancelled, or
   * the gateway stopped waiting) the request leaves the inbox and the promise rejects.
   */
  ask(server: string, method: string, params: unknown, signal?: AbortSignal): Promise<unknown>;
  /** Answers request `id` with `result`; false when it is no longer pending. */
  answer(id: number, result: unknown): boolean;
  /** Fails request `id` with `error`. */
  reject(id: number, error: Error): boolean;
  /** Fails every pending request (the page is going away). */
  dispose(reason?: string): void;
}

export function createRequestInbox(now: () => number = Date.now): RequestInbox {
  const store = writable<readonly PendingRequest[]>([]);
  const waiting = new Map<number, { request: PendingRequest; settle: (ok: boolean, value: unknown) => void }>();
  let nextId = 1;
  const publish = () => store.set([...waiting.values()].map((w) => w.request));
  const settle = (id: number, ok: boolean, value: unknown): boolean => {
    const w = waiting.get(id);
    if (!w) return false;
    waiting.delete(id);
    publish();
    w.settle(ok, value);
    return true;
  };
  return {
    subscribe: store.subscribe,
    ask(server, method, params, signal) {
      const request: PendingRequest = { id: nextId++, server, method, params: isRecord(params) ? params : {}, receivedAt: now() };
      return new Promise((resolve, reject) => {
        const withdraw = () => settle(request.id, false, new DeclinedError(`${method} from ${server} was withdrawn: ${String(signal?.reason ?? 'cancelled')}`));
        if (signal?.aborted) return reject(new DeclinedError(`${method} from ${server} was withdrawn before it was shown`));
        signal?.addEventListener('abort', withdraw, { once: true });
        waiting.set(request.id, {
          request,
          settle: (ok, value) => {
            signal?.removeEventListener('abort', withdraw);
            if (ok) resolve(value);
            else reject(value);
          },
        });
        publish();
      });
    },
    answer: (id, result) => settle(id, true, result),
    reject: (id, error) => settle(id, false, error),
    dispose(reason = 'the dashboard closed') {
      for (const id of [...waiting.keys()]) settle(id, false, new DeclinedError(reason));
    },
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------- sampling

export interface SamplingView {
  messages: Array<{ role: string; text: string }>;
  systemPrompt?: string;
  maxTokens?: number;
  /** The model hints, in preference order. */
  models: string[];
}

/** What the sampling dialog shows of a `sampling/createMessage` request. */
export function samplingView(params: Record<string, unknown>): SamplingView {
  const messages = (Array.isArray(params.messages) ? params.messages : []).map((m) => {
    const message = isRecord(m) ? m : {};
    const blocks = Array.isArray(message.content) ? message.content : [message.content];
    const text = blocks
      .map((c) => (isRecord(c) ? (c.type === 'text' && typeof c.text === 'string' ? c.text : `[${String(c.type ?? 'content')}]`) : ''))
      .join('\n');
    return { role: typeof message.role === 'string' ? message.role : 'user', text };
  });
  const view: SamplingView = { messages, models: [] };
  if (typeof params.systemPrompt === 'string') view.systemPrompt = params.systemPrompt;
  if (typeof params.maxTokens === 'number') view.maxTokens = params.maxTokens;
  const hints = isRecord(params.modelPreferences) && Array.isArray(params.modelPreferences.hints) ? params.modelPreferences.hints : [];
  view.models = hints.map((h) => (isRecord(h) && typeof h.name === 'string' ? h.name : '')).filter((n) => n !== '');
  return view;
}

/** The `CreateMessageResult` for the reply the person wrote (or edited). */
export function samplingAnswer(text: string, model: string): Record<string, unknown> {
  return { role: 'assistant', content: { type: 'text', text }, model: model.trim() || 'human', stopReason: 'endTurn' };
}

// ---------------------------------------------------------------- elicitation

/** A URL-mode elicitation (the person is sent to a page) or a form (the default mode). */
export function elicitationMode(params: Record<string, unknown>): 'form' | 'url' {
  return params.mode === 'url' ? 'url' : 'form';
}

/** Only http(s) URLs become links: a `javascript:` URL from a server must not run in the page. */
export function safeUrl(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

export type ElicitAction = 'accept' | 'decline' | 'cancel';

/** The `ElicitResult`: content only with `accept` (and only for forms). */
export function elicitationAnswer(action: ElicitAction, content?: Record<string, unknown>): Record<string, unknown> {
  return action === 'accept' && content ? { action, content } : { action };
}
