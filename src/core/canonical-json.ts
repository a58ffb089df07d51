/**
 * Canonical JSON: one text per value, whatever order its object keys were written in — the key of
 * a cached result and the input of an audit log's argument hash. `{b: 1, a: 2}` and `{a: 2, b: 1}`
 * are the same arguments to a server, so they must be the same cache entry.
 *
 * Rules: object keys sorted by code unit (as `Array.prototype.sort` does), `undefined` members left
 * out (as `JSON.stringify` does), arrays kept in order, numbers and strings as `JSON.stringify`
 * writes them. Iterative, so a deeply nested value cannot overflow the stack.
 */

/**
 * The canonical JSON text of `value`. Throws a TypeError for what JSON cannot carry faithfully
 * (a cycle, a bigint, a function at the top level).
 *
 * @example canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }) // '{"a":[2,{"c":4,"d":3}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  // A work stack of values to write and literal text (punctuation) to emit, so nesting depth costs heap, not stack.
  const stack: Array<{ value: unknown } | { text: string } | { leave: object }> = [{ value }];
  const open = new Set<object>();
  while (stack.length > 0) {
    const item = stack.pop()!;
    if ('text' in item) {
      out.push(item.text);
      continue;
    }
    if ('leave' in item) {
      open.delete(item.leave);
      continue;
    }
    const v = item.value;
    if (v === null || typeof v === 'boolean' || typeof v === 'string') {
      out.push(JSON.stringify(v));
    } else if (typeof v === 'number') {
      out.push(Number.isFinite(v) ? JSON.stringify(v) : 'null');
    } else if (typeof v === 'object') {
      if (open.has(v)) throw new TypeError('canonicalJson: the value has a cycle');
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        stack.push({ value: (toJSON as () => unknown).call(v) });
        continue;
      }
      open.add(v);
      stack.push({ leave: v });
      if (Array.isArray(v)) {
        stack.push({ text: ']' });
        for (let i = v.length - 1; i >= 0; i--) {
          const element = v[i] as unknown;
          // As JSON.stringify: holes, undefined and functions in arrays become null.
          stack.push({ value: element === undefined || typeof element === 'function' || typeof element === 'symbol' ? null : element });
          if (i > 0) stack.push({ text: ',' });
        }
        stack.push({ text: '[' });
      } else {
        const record = v as Record<string, unknown>;
        const keys = Object.keys(record)
          .filter((k) => record[k] !== undefined && typeof record[k] !== 'function' && typeof record[k] !== 'symbol')
          .sort();
        stack.push({ text: '}' });
        for (let i = keys.length - 1; i >= 0; i--) {
          stack.push({ value: record[keys[i]!] });
          stack.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:` });
        }
        stack.push({ text: '{' });
      }
    } else if (typeof v === 'bigint') {
      throw new TypeError('canonicalJson: a bigint has no JSON form');
    } else {
      // undefined, a function or a symbol where a value is required (the top level).
      throw new TypeError(`canonicalJson: a ${typeof v} has no JSON form`);
    }
  }
  return out.join('');
}
