import { describe, expect, it, vi } from 'vitest';
import { Emitter } from '../../src/core/emitter.js';

type Events = { data: number; text: string; done: undefined };

/** Captures listener errors instead of logging them. */
class TestEmitter extends Emitter<Events> {
  readonly errors: Array<{ error: unknown; event: keyof Events }> = [];
  constructor() {
    super();
    this.onListenerError = (error, event) => {
      this.errors.push({ error, event });
    };
  }
}

describe('Emitter', () => {
  it('calls listeners with the payload, in subscription order', () => {
    const e = new Emitter<Events>();
    const calls: string[] = [];
    e.on('data', (n) => calls.push(`a${n}`));
    e.on('data', (n) => calls.push(`b${n}`));
    e.on('text', (s) => calls.push(s));
    e.emit('data', 1);
    e.emit('text', 'hi');
    e.emit('data', 2);
    expect(calls).toEqual(['a1', 'b1', 'hi', 'a2', 'b2']);
  });

  it('emitting with no listeners is a no-op', () => {
    const e = new Emitter<Events>();
    expect(() => e.emit('done', undefined)).not.toThrow();
    expect(e.listenerCount('done')).toBe(0);
  });

  it('on returns an unsubscribe function; off removes a listener', () => {
    const e = new Emitter<Events>();
    const a = vi.fn();
    const b = vi.fn();
    const unsubscribe = e.on('data', a);
    e.on('data', b);
    expect(e.listenerCount('data')).toBe(2);
    unsubscribe();
    e.emit('data', 1);
    expect(a).not.toHaveBeenCalled();
    expect(b).toHaveBeenCalledWith(1);
    e.off('data', b);
    e.emit('data', 2);
    expect(b).toHaveBeenCalledTimes(1);
    expect(e.listenerCount('data')).toBe(0);
    unsubscribe(); // idempotent
    e.off('text', b); // unknown event: no-op
  });

  it('the same listener subscribed twice is called once', () => {
    const e = new Emitter<Events>();
    const a = vi.fn();
    e.on('data', a);
    e.on('data', a);
    e.emit('data', 1);
    expect(a).toHaveBeenCalledTimes(1);
    expect(e.listenerCount('data')).toBe(1);
  });

  it('once fires a single time', () => {
    const e = new Emitter<Events>();
    const a = vi.fn();
    e.once('data', a);
    expect(e.listenerCount('data')).toBe(1);
    e.emit('data', 1);
    e.emit('data', 2);
    expect(a).toHaveBeenCalledTimes(1);
    expect(a).toHaveBeenCalledWith(1);
    expect(e.listenerCount('data')).toBe(0);
  });

  it('once can be cancelled before it fires', () => {
    const e = new Emitter<Events>();
    const a = vi.fn();
    const off = e.once('data', a);
    off();
    e.emit('data', 1);
    expect(a).not.toHaveBeenCalled();
  });

  it('a once listener that re-emits does not run twice', () => {
    const e = new Emitter<Events>();
    const a = vi.fn((n: number) => {
      if (n === 1) e.emit('data', 2);
    });
    e.once('data', a);
    e.emit('data', 1);
    expect(a).toHaveBeenCalledTimes(1);
  });

  it('a throwing listener is isolated and reported', () => {
    const e = new TestEmitter();
    const boom = new Error('boom');
    const after = vi.fn();
    e.on('data', () => {
      throw boom;
    });
    e.on('data', after);
    expect(() => e.emit('data', 5)).not.toThrow();
    expect(after).toHaveBeenCalledWith(5);
    expect(e.errors).toEqual([{ error: boom, event: 'data' }]);
  });

  it('reports listener errors on the console by default', () => {
    const e = new Emitter<Events>();
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      e.on('text', () => {
        throw new Error('bad');
      });
      e.emit('text', 'x');
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]![0])).toContain('"text"');
    } finally {
      spy.mockRestore();
    }
  });

  it('listeners added or removed during emit do not affect the current emit', () => {
    const e = new Emitter<Events>();
    const calls: string[] = [];
    const late = () => calls.push('late');
    e.on('data', () => {
      calls.push('first');
      e.on('data', late);
    });
    e.emit('data', 1);
    expect(calls).toEqual(['first']);
    e.emit('data', 2);
    expect(calls).toEqual(['first', 'first', 'late']);
  });

  it('removeAllListeners removes everything', () => {
    const e = new Emitter<Events>();
    const a = vi.fn();
    e.on('data', a);
    e.on('text', a);
    e.removeAllListeners();
    e.emit('data', 1);
    e.emit('text', 'x');
    expect(a).not.toHaveBeenCalled();
    expect(e.listenerCount('data')).toBe(0);
    expect(e.listenerCount('text')).toBe(0);
  });
});
