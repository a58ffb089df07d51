import { describe, expect, it } from 'vitest';
import { EventFeed, type FetchEvents } from '../../src/client/event-feed.js';
import type { HelloParams, SequencedEvent } from '../../src/core/gateway-protocol.js';
import { NotConnectedError } from '../../src/core/errors.js';
import { err, ok } from '../../src/core/result.js';

const event = (seq: number) => ({ seq, time: seq, method: 'server/event', params: { server: 's', type: 'log', level: 'info', message: `e${seq}`, time: seq } }) as SequencedEvent;
const hello = (latestSeq: number) => ({ latestSeq, instance: 'x', servers: [] }) as unknown as HelloParams;
const live = (feed: EventFeed, seq: number) => feed.receive('server/event', { seq, time: seq, data: event(seq).params });

/** A gateway log of events 1..n, answering `events/since` like the gateway (pages of `limit`). */
function gatewayLog(n: number) {
  const log = Array.from({ length: n }, (_, i) => event(i + 1));
  const asked: number[] = [];
  const fetch: FetchEvents = async (seq, limit) => {
    asked.push(seq);
    return ok({ events: log.filter((e) => e.seq > seq).slice(0, limit), latestSeq: log.length, truncated: false });
  };
  return { log, asked, fetch };
}

describe('EventFeed', () => {
  it('holds the live events of a new connection: one arriving before the catch-up neither duplicates nor reorders it', async () => {
    const gateway = gatewayLog(100);
    const feed = new EventFeed({ maxEvents: 500, initialEvents: 200 });
    feed.hold();
    feed.afterHello(hello(100));
    await feed.catchUp(gateway.fetch, () => true);
    // Disconnected; 101..150 happen; reconnect: hello says 150, then 151 arrives before the catch-up ran.
    gateway.log.push(...Array.from({ length: 50 }, (_, i) => event(101 + i)));
    feed.hold();
    feed.afterHello(hello(150));
    live(feed, 151);
    gateway.log.push(event(151));
    expect(feed.events.get().at(-1)?.seq).toBe(100); // held until the connection is in sync
    await feed.catchUp(gateway.fetch, () => true);
    expect(feed.events.get().map((e) => e.seq)).toEqual(Array.from({ length: 151 }, (_, i) => i + 1));
    expect(gateway.asked).toEqual([0, 100]);
    expect(feed.missedEvents.get()).toBe(0);
    live(feed, 152); // in sync: live again
    expect(feed.events.get().at(-1)?.seq).toBe(152);
  });

  it('a catch-up cut short (the connection changed) keeps the held events for the next one and leaves no gap', async () => {
    const gateway = gatewayLog(10);
    const feed = new EventFeed({ maxEvents: 500, initialEvents: 200 });
    feed.afterHello(hello(10));
    await feed.catchUp(gateway.fetch, () => true);
    gateway.log.push(event(11), event(12));
    feed.hold();
    feed.afterHello(hello(12));
    let current = true;
    live(feed, 13);
    await feed.catchUp(async () => ((current = false), err(new NotConnectedError('Connection closed'))), () => current);
    expect(feed.events.get().map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    gateway.log.push(event(13), event(14));
    feed.hold();
    feed.afterHello(hello(14));
    await feed.catchUp(gateway.fetch, () => true);
    expect(feed.events.get().map((e) => e.seq)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
    expect(feed.missedEvents.get()).toBe(0);
  });

  it('without a hello (older gateways) catches up from the last seen seq, holding what arrived meanwhile', async () => {
    const gateway = gatewayLog(3);
    const feed = new EventFeed({ maxEvents: 500, initialEvents: 200 });
    feed.afterHello(hello(3));
    await feed.catchUp(gateway.fetch, () => true);
    gateway.log.push(event(4), event(5));
    feed.hold();
    live(feed, 5); // before the hello timeout ran out
    await feed.catchUp(gateway.fetch, () => true);
    expect(feed.events.get().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(gateway.asked).toEqual([0, 3]);
  });
});
