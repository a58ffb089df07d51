import { describe, expect, it } from 'vitest';
import { AddressConnections, addressKey } from '../../src/node/gateway/address-cap.js';

describe('addressKey', () => {
  it('keeps IPv4 addresses, and unwraps IPv4-mapped IPv6 ones', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::FFFF:10.1.2.3')).toBe('10.1.2.3');
  });

  it('counts an IPv6 address by its /64 prefix (a client can pick any address in it)', () => {
    expect(addressKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8:0:1:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:db8:0:2::5')).not.toBe(addressKey('2001:db8:0:1::5'));
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::192.0.2.33')).toBe('64:ff9b:0:0::/64');
  });

  it('keeps the IPv6 loopback apart, and never throws on odd input', () => {
    expect(addressKey('::1')).toBe('::1');
    expect(addressKey(undefined)).toBe('unknown');
    expect(addressKey('')).toBe('unknown');
    expect(addressKey('not-an-address')).toBe('not-an-address');
  });
});

describe('AddressConnections', () => {
  it('grants up to max slots per key, independently, and takes them back', () => {
    const slots = new AddressConnections(2);
    expect([slots.tryAcquire('a'), slots.tryAcquire('a'), slots.tryAcquire('a')]).toEqual([true, true, false]);
    expect(slots.tryAcquire('b')).toBe(true);
    expect(slots.count('a')).toBe(2);
    slots.release('a');
    expect(slots.tryAcquire('a')).toBe(true);
    slots.release('b');
    slots.release('b'); // an extra release never goes below zero
    expect(slots.count('b')).toBe(0);
  });

  it('rejects a cap that is not a positive whole number', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new AddressConnections(bad)).toThrow(TypeError);
  });
});
