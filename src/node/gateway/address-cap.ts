/**
 * Fair shares of the gateway's connections: how many WebSockets each remote address holds, so that one
 * client (one token holder) cannot take every connection the host allows and lock the others out.
 *
 * An address is what a client cannot cheaply multiply: an IPv4 address, or an IPv6 /64 prefix (one
 * host or LAN usually owns a whole /64, and can pick any address in it).
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The key a remote address is counted under: an IPv4 address as is (an IPv4-mapped IPv6 address
 * `::ffff:a.b.c.d` as its IPv4 form), `::1` as is, any other IPv6 address as its /64 prefix
 * (`2001:db8:0:1::/64`), anything unparsable (or a missing address) as itself or `unknown`.
 */
export function addressKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  const address = remoteAddress.replace(/%.*$/, ''); // zone id (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address;
  const groups = expandIPv6(address);
  if (groups.every((g, i) => g === (i === 7 ? 1 : 0))) return '::1';
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail as two groups). */
function expandIPv6(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [Number.parseInt(g, 16)];
          const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** Open connections per address key, against one cap. */
export class AddressConnections {
  private readonly counts = new Map<string, number>();

  /**
   * @param max connections one address may hold at once (a positive whole number).
   */
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`maxConnectionsPerAddress must be a positive whole number, got ${String(max)}`);
  }

  /** Takes a slot for `key`; false (and nothing taken) when the address already holds `max`. */
  tryAcquire(key: string): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  /** Gives back a slot taken by tryAcquire. */
  release(key: string): void {
    const n = this.counts.get(key) ?? 0;
    if (n <= 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
  }

  /** Connections `key` holds now. */
  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
