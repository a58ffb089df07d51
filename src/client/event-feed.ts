/**
 * The host's broadcast events as the client sees them: the `events` store (bounded, in seq order,
 * no seq twice), the `servers` and `metrics` stores they keep current, and catch-up after a
 * reconnect (`events/since`, live events held back meanwhile so the order stays right).
 */
import { BoundedLog } from '../core/bounded-log.js';
import type { IpcError } from '../core/errors.js';
import {
  type BroadcastParams,
  GATEWAY_EVENTS,
  type GatewayEventName,
  type GatewayResult,
  type HelloParams,
  type SequencedEvent,
  type ServerSnapshot,
  type ServerState,
} from '../core/gateway-protocol.js';
import type { IpcMetricsSnapshot } from '../core/ipc-manager.js';
import type { Result } from '../core/result.js';
import { type Readable, readonly, writable } from './store.js';

export interface EventFeedOptions {
  /** Events kept in the `events` store. */
  maxEvents: number;
  /** Past events loaded on the first connection. */
  initialEvents: number;
}

/** Fetches one page of the gateway's event log. */
export type FetchEvents = (seq: number, limit: number) => Promise<Result<GatewayResult<'events/since'>, IpcError>>;

const CATCH_UP_PAGE = 500;

export function isBroadcast(method: string): method is GatewayEventName {
  return (GATEWAY_EVENTS as string[]).includes(method);
}

export class EventFeed {
  private readonly _servers = writable<ServerSnapshot[]>([]);
  private readonly _metrics = writable<Record<string, IpcMetricsSnapshot>>({});
  private readonly _events = writable<SequencedEvent[]>([]);
  private readonly _missed = writable(0);
  readonly servers: Readable<ServerSnapshot[]> & { get(): ServerSnapshot[] } = readonly(this._servers);
  readonly metrics: Readable<Record<string, IpcMetricsSnapshot>> & { get(): Record<string, IpcMetricsSnapshot> } = readonly(this._metrics);
  readonly events: Readable<SequencedEvent[]> & { get(): SequencedEvent[] } = readonly(this._events);
  readonly missedEvents: Readable<number> & { get(): number } = readonly(this._missed);

  private readonly log: BoundedLog<SequencedEvent>;
  private lastSeq: number | undefined;
  private instance: string | undefined;
  private catchingUp = false;
  private readonly liveDuringCatchUp: SequencedEvent[] = [];

  constructor(private readonly options: EventFeedOptions) {
    this.log = new BoundedLog({ maxItems: Math.max(1, options.maxEvents) });
  }

  /** A broadcast notification (`{ seq, time, data }`) as it arrived. */
  receive(method: GatewayEventName, params: unknown): void {
    const p = params as Partial<BroadcastParams> | undefined;
    if (!p || typeof p.seq !== 'number' || p.data === undefined) return;
    const event = { seq: p.seq, time: typeof p.time === 'number' ? p.time : Date.now(), method, params: p.data } as SequencedEvent;
    this.apply(event);
    if (this.catchingUp) this.liveDuringCatchUp.push(event);
    else this.append([event]);
  }

  setServers(list: ServerSnapshot[]): void {
    this._servers.set(list);
    const metrics: Record<string, IpcMetricsSnapshot> = {};
    for (const s of list) if (s.metrics) metrics[s.name] = s.metrics;
    this._metrics.set(metrics);
  }

  /** Updates the last seen seq from `hello`; true when events were missed and must be fetched. */
  afterHello(hello: HelloParams | undefined): boolean {
    if (!hello || typeof hello.latestSeq !== 'number') return this.lastSeq !== undefined;
    if (this.lastSeq === undefined) {
      this.instance = hello.instance;
      // First connection: start with the recent history (what happened before the page opened).
      this.lastSeq = Math.max(0, hello.latestSeq - Math.min(this.options.initialEvents, this.options.maxEvents));
      return hello.latestSeq > this.lastSeq;
    }
    // The gateway restarted (its seq started over): a new instance id, or a seq that went back.
    const restarted = (hello.instance !== undefined && this.instance !== undefined && hello.instance !== this.instance) || hello.latestSeq < this.lastSeq;
    this.instance = hello.instance;
    if (restarted) this.lastSeq = 0;
    return hello.latestSeq > this.lastSeq;
  }

  /** Fetches the events missed while disconnected; `current()` false stops it (the link changed). */
  async catchUp(fetch: FetchEvents, current: () => boolean): Promise<void> {
    this.catchingUp = true;
    try {
      for (let page = 0; page < 100 && current(); page++) {
        const since = this.lastSeq ?? 0;
        const r = await fetch(since, CATCH_UP_PAGE);
        if (!current()) break;
        if (!r.ok) {
          // Cannot tell how many: count the gap as one rather than pretend the history is whole.
          this._missed.update((n) => n + 1);
          break;
        }
        if (r.data.truncated) {
          const firstKept = r.data.events[0]?.seq ?? r.data.latestSeq + 1;
          this._missed.update((n) => n + Math.max(0, firstKept - since - 1));
        }
        this.append(r.data.events);
        if (r.data.events.length === 0 || (this.lastSeq ?? 0) >= r.data.latestSeq || (this.lastSeq ?? 0) === since) break;
      }
    } finally {
      this.catchingUp = false;
      this.append(this.liveDuringCatchUp.splice(0));
    }
  }

  /** Appends events newer than the last seen (in seq order), bounded to `maxEvents`. */
  private append(events: SequencedEvent[]): void {
    let fresh = false;
    for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
      if (this.lastSeq !== undefined && e.seq <= this.lastSeq) continue;
      this.lastSeq = e.seq;
      this.log.push(e);
      fresh = true;
    }
    if (fresh) this._events.set([...this.log.items]);
  }

  private apply(event: SequencedEvent): void {
    switch (event.method) {
      case 'server/state': {
        const { server, state, reason } = event.params;
        this.patchServer(server, (s) => withState(s, state, reason));
        break;
      }
      case 'metrics': {
        const snapshot = event.params.snapshot;
        if (!snapshot || typeof snapshot.name !== 'string') break;
        const list = this._servers.get();
        const found = list.some((s) => s.name === snapshot.name);
        this.setServers(found ? list.map((s) => (s.name === snapshot.name ? snapshot : s)) : [...list, snapshot]);
        break;
      }
      case 'tools/changed': {
        const { server, tools } = event.params;
        if (!Array.isArray(tools)) break;
        this.setServers(this._servers.get().map((s) => (s.name === server ? { ...s, toolCount: tools.length } : s)));
        break;
      }
      case 'host/reload': {
        // Servers taken out of the config are gone; added ones appear with their first snapshot.
        const removed = event.params.removed;
        if (Array.isArray(removed) && removed.length > 0) this.setServers(this._servers.get().filter((s) => !removed.includes(s.name)));
        break;
      }
      case 'server/event': {
        // The process facts a card shows change with these before the next `metrics` snapshot comes.
        const { server, type, data } = event.params;
        const facts = data as { pid?: unknown; code?: unknown; signal?: unknown; at?: unknown } | undefined;
        if (type === 'spawn' && typeof facts?.pid === 'number') {
          const pid = facts.pid;
          this.patchServer(server, (s) => ({ ...s, pid }));
        } else if (type === 'exit' && facts && (typeof facts.code === 'number' || typeof facts.signal === 'string')) {
          const lastExit = {
            code: typeof facts.code === 'number' ? facts.code : null,
            signal: typeof facts.signal === 'string' ? facts.signal : null,
            at: typeof facts.at === 'number' ? facts.at : event.params.time,
          };
          this.patchServer(server, (s) => ({ ...s, pid: null, lastExit }));
        }
        break;
      }
    }
  }

  private patchServer(name: string, patch: (snapshot: ServerSnapshot) => ServerSnapshot): void {
    const list = this._servers.get();
    if (list.some((s) => s.name === name)) this.setServers(list.map((s) => (s.name === name ? patch(s) : s)));
  }
}

/**
 * A snapshot after a state change, before the host's next full snapshot: facts that only hold while
 * the process runs (uptime, health RTT, CPU and memory) are dropped, and the pid too once it is gone.
 */
function withState(s: ServerSnapshot, state: ServerState, reason: string | null): ServerSnapshot {
  if (state === 'running') return { ...s, state, reason };
  const gone = state !== 'stopping'; // the old process has exited (or a new one has yet to spawn)
  return {
    ...s,
    state,
    reason,
    uptimeMs: 0,
    pid: gone ? null : s.pid,
    health: { ...s.health, rttMs: null },
    usage: null,
  };
}
