/**
 * The gateway's sequenced event log: every broadcast event gets the next `seq` and the time it was
 * logged, and the most recent ones are kept (bounded by count and by bytes of JSON) so that a
 * reconnecting browser can ask for what it missed (`events/since`).
 */
import { BoundedLog } from '../../core/bounded-log.js';
import type { BroadcastParams, GatewayEventName, GatewayEvents, GatewayResult, SequencedEvent } from '../../core/gateway-protocol.js';
import { notification } from '../../core/jsonrpc.js';

export interface EventLogOptions {
  /** Events kept at most. */
  maxEvents: number;
  /** Bytes of JSON kept at most (the newest event always stays). */
  maxBytes: number;
  /** @default Date.now */
  now?: () => number;
}

export class EventLog {
  private readonly log: BoundedLog<SequencedEvent>;
  private readonly now: () => number;
  readonly maxEvents: number;
  private seq = 0;
  /** Highest seq dropped from the log (0: nothing dropped yet). */
  private droppedThrough = 0;

  constructor(options: EventLogOptions) {
    this.maxEvents = Math.max(1, options.maxEvents);
    this.log = new BoundedLog({ maxItems: this.maxEvents, maxSize: Math.max(1, options.maxBytes) });
    this.now = options.now ?? Date.now;
  }

  get latestSeq(): number {
    return this.seq;
  }

  get size(): number {
    return this.log.length;
  }

  /**
   * Logs one event and returns the notification frame to broadcast, or undefined when the payload
   * cannot be serialised (a cycle: nothing sensible to log or send; no seq is used up).
   */
  append<K extends GatewayEventName>(method: K, data: GatewayEvents[K]): string | undefined {
    const seq = this.seq + 1;
    const time = this.now();
    const params: BroadcastParams<K> = { seq, time, data };
    let text: string;
    try {
      text = JSON.stringify(notification(method, params as unknown as Record<string, unknown>));
    } catch {
      return undefined;
    }
    this.seq = seq;
    const dropped = this.log.push({ seq, time, method, params: data } as SequencedEvent, text.length);
    if (dropped.length > 0) this.droppedThrough = dropped[dropped.length - 1]!.seq;
    return text;
  }

  /** Events after `seq` (exclusive), oldest first, at most `limit`. */
  since(seq: number, limit = this.maxEvents): GatewayResult<'events/since'> {
    const items = this.log.items;
    const events: SequencedEvent[] = [];
    for (let i = this.log.firstIndexWhere((e) => e.seq > seq); i < items.length && events.length < limit; i++) events.push(items[i]!);
    return { events, latestSeq: this.seq, truncated: this.droppedThrough > seq };
  }
}
