import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/core/defaults.js';
import {
  decodeInto,
  decodeText,
  failure,
  isFailure,
  isNotification,
  isRequest,
  isResponse,
  nestedDeeperThan,
  notification,
  preview,
  previewValue,
  request,
  sniffResponseId,
  success,
  validationError,
} from '../../src/core/jsonrpc.js';

describe('validationError', () => {
  const valid: Array<[string, unknown]> = [
    ['request', { jsonrpc: '2.0', id: 1, method: 'ping' }],
    ['request with string id', { jsonrpc: '2.0', id: 'abc', method: 'ping' }],
    ['request with object params', { jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'x' } }],
    ['request with array params', { jsonrpc: '2.0', id: -5, method: 'm', params: [1, 2] }],
    ['request with fractional id', { jsonrpc: '2.0', id: 1.5, method: 'm' }],
    ['notification', { jsonrpc: '2.0', method: 'notifications/initialized' }],
    ['notification with params', { jsonrpc: '2.0', method: 'n', params: {} }],
    ['success', { jsonrpc: '2.0', id: 1, result: { ok: true } }],
    ['success with null result', { jsonrpc: '2.0', id: 'x', result: null }],
    ['failure', { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'Method not found' } }],
    ['failure with data', { jsonrpc: '2.0', id: 'q', error: { code: 1, message: '', data: [1] } }],
    ['failure with null id', { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }],
  ];
  for (const [name, value] of valid) {
    it(`accepts a valid ${name}`, () => {
      expect(validationError(value)).toBeNull();
    });
  }

  const invalid: Array<[string, unknown, RegExp]> = [
    ['null', null, /not an object/],
    ['a string', 'hello', /not an object/],
    ['a number', 42, /not an object/],
    ['an array', [{ jsonrpc: '2.0', method: 'm' }], /not an object/],
    ['missing jsonrpc', { id: 1, method: 'm' }, /jsonrpc must be "2.0"/],
    ['jsonrpc 1.0', { jsonrpc: '1.0', id: 1, method: 'm' }, /jsonrpc must be "2.0"/],
    ['jsonrpc as number', { jsonrpc: 2.0, id: 1, method: 'm' }, /jsonrpc must be "2.0"/],
    ['empty method', { jsonrpc: '2.0', id: 1, method: '' }, /method must be a non-empty string/],
    ['non-string method', { jsonrpc: '2.0', id: 1, method: 5 }, /method must be a non-empty string/],
    ['null method', { jsonrpc: '2.0', method: null }, /method must be a non-empty string/],
    ['string params', { jsonrpc: '2.0', id: 1, method: 'm', params: 'x' }, /params must be an object or an array/],
    ['numeric params', { jsonrpc: '2.0', method: 'm', params: 3 }, /params must be an object or an array/],
    ['null params', { jsonrpc: '2.0', method: 'm', params: null }, /params must be an object or an array/],
    ['object id on a request', { jsonrpc: '2.0', id: {}, method: 'm' }, /id must be a string or a finite number/],
    ['null id on a request', { jsonrpc: '2.0', id: null, method: 'm' }, /id must be a string or a finite number/],
    ['boolean id on a request', { jsonrpc: '2.0', id: true, method: 'm' }, /id must be a string or a finite number/],
    ['NaN id on a request', { jsonrpc: '2.0', id: Number.NaN, method: 'm' }, /id must be a string or a finite number/],
    ['Infinity id on a request', { jsonrpc: '2.0', id: Number.POSITIVE_INFINITY, method: 'm' }, /finite number/],
    ['neither method nor id', { jsonrpc: '2.0', result: 1 }, /neither a request, a notification nor a response/],
    ['bare envelope', { jsonrpc: '2.0' }, /neither/],
    ['response with result and error', { jsonrpc: '2.0', id: 1, result: 1, error: { code: 1, message: 'x' } }, /exactly one of result and error/],
    ['response with neither result nor error', { jsonrpc: '2.0', id: 1 }, /exactly one of result and error/],
    ['success with null id', { jsonrpc: '2.0', id: null, result: 1 }, /response id must be a string or a finite number/],
    ['success with object id', { jsonrpc: '2.0', id: [1], result: 1 }, /response id must be a string or a finite number/],
    ['failure with object id', { jsonrpc: '2.0', id: {}, error: { code: 1, message: 'x' } }, /response id must be a string, a number or null/],
    ['failure with boolean id', { jsonrpc: '2.0', id: false, error: { code: 1, message: 'x' } }, /string, a number or null/],
    ['error not an object', { jsonrpc: '2.0', id: 1, error: 'boom' }, /error must be an object/],
    ['error null', { jsonrpc: '2.0', id: 1, error: null }, /error must be an object/],
    ['error.code missing', { jsonrpc: '2.0', id: 1, error: { message: 'x' } }, /error.code must be an integer/],
    ['error.code non-integer', { jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'x' } }, /error.code must be an integer/],
    ['error.code string', { jsonrpc: '2.0', id: 1, error: { code: '-32600', message: 'x' } }, /error.code must be an integer/],
    ['error.code NaN', { jsonrpc: '2.0', id: 1, error: { code: Number.NaN, message: 'x' } }, /error.code must be an integer/],
    ['error.message missing', { jsonrpc: '2.0', id: 1, error: { code: 1 } }, /error.message must be a string/],
    ['error.message non-string', { jsonrpc: '2.0', id: 1, error: { code: 1, message: 42 } }, /error.message must be a string/],
  ];
  for (const [name, value, reason] of invalid) {
    it(`rejects ${name}`, () => {
      expect(validationError(value)).toMatch(reason);
    });
  }

  it('accepts everything the builders produce', () => {
    expect(validationError(request(1, 'm'))).toBeNull();
    expect(validationError(request('a', 'm', { x: 1 }))).toBeNull();
    expect(validationError(notification('n'))).toBeNull();
    expect(validationError(notification('n', [1]))).toBeNull();
    expect(validationError(success(1, undefined))).toBeNull();
    expect(validationError(failure(null, -32700, 'Parse error'))).toBeNull();
    expect(validationError(failure(3, 1, 'x', { more: true }))).toBeNull();
  });

  it('never throws on arbitrary values', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const r = validationError(v);
        expect(r === null || typeof r === 'string').toBe(true);
      }),
    );
  });
});

describe('builders and guards', () => {
  it('omit absent params and data', () => {
    expect(request(1, 'm')).toEqual({ jsonrpc: '2.0', id: 1, method: 'm' });
    expect('params' in request(1, 'm')).toBe(false);
    expect(request(1, 'm', [])).toEqual({ jsonrpc: '2.0', id: 1, method: 'm', params: [] });
    expect('params' in notification('n')).toBe(false);
    expect(failure(1, 2, 'x')).toEqual({ jsonrpc: '2.0', id: 1, error: { code: 2, message: 'x' } });
    expect('data' in failure(1, 2, 'x').error).toBe(false);
    expect(failure(1, 2, 'x', null).error.data).toBeNull();
  });

  it('classify messages', () => {
    const req = request(1, 'm');
    const note = notification('n');
    const ok = success(1, 0);
    const bad = failure(1, 1, 'x');
    expect([isRequest(req), isNotification(req), isResponse(req)]).toEqual([true, false, false]);
    expect([isRequest(note), isNotification(note), isResponse(note)]).toEqual([false, true, false]);
    expect([isRequest(ok), isNotification(ok), isResponse(ok), isFailure(ok)]).toEqual([false, false, true, false]);
    expect([isResponse(bad), isFailure(bad)]).toEqual([true, true]);
  });
});

describe('decodeText', () => {
  it('decodes one message', () => {
    const out = decodeText('{"jsonrpc":"2.0","id":1,"result":"ok"}');
    expect(out.messages).toEqual([{ jsonrpc: '2.0', id: 1, result: 'ok' }]);
    expect(out.diagnostics).toEqual([]);
  });

  it('reports non-JSON text with a preview and the byte count', () => {
    const out = decodeText('server starting...', 99);
    expect(out.messages).toEqual([]);
    expect(out.diagnostics).toEqual([{ kind: 'non-json', preview: 'server starting...', bytes: 99 }]);
  });

  it('defaults bytes to the text length', () => {
    expect(decodeText('nope').diagnostics).toEqual([{ kind: 'non-json', preview: 'nope', bytes: 4 }]);
  });

  it('truncates long previews', () => {
    const text = 'x'.repeat(1000);
    const d = decodeText(text).diagnostics[0]!;
    expect(d.kind).toBe('non-json');
    if (d.kind === 'non-json') expect(d.preview).toBe(`${'x'.repeat(200)}…`);
    expect(preview('short')).toBe('short');
    expect(preview('y'.repeat(200))).toBe('y'.repeat(200));
  });

  it('reports valid JSON that is not a message, with its id when readable', () => {
    const out = decodeText('{"jsonrpc":"1.0","id":"r1","method":"m"}');
    expect(out.messages).toEqual([]);
    expect(out.diagnostics).toEqual([
      { kind: 'invalid-message', preview: '{"jsonrpc":"1.0","id":"r1","method":"m"}', reason: 'jsonrpc must be "2.0"', id: 'r1' },
    ]);
  });

  it('reports primitives and null without an id', () => {
    for (const text of ['42', 'null', '"str"', 'true']) {
      const out = decodeText(text);
      expect(out.messages).toEqual([]);
      expect(out.diagnostics).toHaveLength(1);
      expect(out.diagnostics[0]).toMatchObject({ kind: 'invalid-message', reason: 'not an object' });
      expect('id' in out.diagnostics[0]!).toBe(false);
    }
  });

  it('unrolls a batch, keeping valid items in order and reporting invalid ones', () => {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'a' },
      { jsonrpc: '2.0', id: 2, method: '' },
      { jsonrpc: '2.0', method: 'b' },
      7,
      { jsonrpc: '2.0', id: 'x', result: 1, error: { code: 1, message: 'm' } },
      { jsonrpc: '2.0', id: 3, result: null },
    ];
    const out = decodeText(JSON.stringify(batch));
    expect(out.messages).toEqual([batch[0], batch[2], batch[5]]);
    expect(out.diagnostics).toEqual([
      { kind: 'invalid-message', preview: JSON.stringify(batch[1]), reason: 'method must be a non-empty string', id: 2 },
      { kind: 'invalid-message', preview: '7', reason: 'not an object' },
      { kind: 'invalid-message', preview: JSON.stringify(batch[4]), reason: 'a response has exactly one of result and error', id: 'x' },
    ]);
  });

  it('reports an empty batch', () => {
    const out = decodeText('[]');
    expect(out.messages).toEqual([]);
    expect(out.diagnostics).toEqual([{ kind: 'invalid-message', preview: '[]', reason: 'empty batch' }]);
  });

  it('reports a nested array in a batch as not an object', () => {
    const out = decodeText('[[]]');
    expect(out.messages).toEqual([]);
    expect(out.diagnostics).toEqual([{ kind: 'invalid-message', preview: '[]', reason: 'not an object' }]);
  });

  it('does not report an id that is not a valid id', () => {
    const out = decodeText('{"jsonrpc":"2.0","id":{"x":1},"method":"m"}');
    expect(out.diagnostics).toHaveLength(1);
    expect('id' in out.diagnostics[0]!).toBe(false);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 50 }), fc.json({ maxDepth: 3 })), (text) => {
        const out = decodeText(text);
        expect(Array.isArray(out.messages)).toBe(true);
        expect(out.messages.length + out.diagnostics.length).toBeGreaterThan(0);
        for (const m of out.messages) expect(validationError(m)).toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});

/** `[[[…]]]` or `{"a":{"a":…}}`, `depth` levels, built without recursion. */
const nestedText = (shape: 'array' | 'object', depth: number, inner = '0') =>
  shape === 'array' ? `${'['.repeat(depth)}${inner}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;

/** Nesting depth of a value (a scalar is 0), without recursion. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    max = Math.max(max, d + 1);
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

describe('decodeText on deeply nested input (it must stay total)', () => {
  for (const shape of ['array', 'object'] as const) {
    for (const depth of [10_000, 100_000]) {
      it(`turns a bare ${shape} nested ${depth} deep into one diagnostic with a bounded preview`, () => {
        const out = decodeText(nestedText(shape, depth));
        expect(out.messages).toEqual([]);
        expect(out.diagnostics).toHaveLength(1);
        const d = out.diagnostics[0]!;
        expect(d.kind).toBe('invalid-message');
        expect(d.kind === 'invalid-message' && d.preview.length).toBeLessThanOrEqual(201);
      });

      it(`rejects a response whose result is a ${shape} nested ${depth} deep, keeping its id`, () => {
        const out = decodeText(`{"jsonrpc":"2.0","id":7,"result":${nestedText(shape, depth)}}`);
        expect(out.messages).toEqual([]);
        expect(out.diagnostics).toEqual([
          expect.objectContaining({ kind: 'invalid-message', id: 7, reason: `nested deeper than ${DEFAULTS.transport.maxJsonDepth} levels` }),
        ]);
      });
    }
  }

  it('accepts a message exactly at the depth limit and rejects one level more', () => {
    // The message object is level 1; `result` adds one; each `[` one more.
    const at = (levels: number) => `{"jsonrpc":"2.0","id":1,"result":${nestedText('array', levels - 1)}}`;
    expect(decodeText(at(8), undefined, { maxDepth: 8 }).messages).toHaveLength(1);
    expect(decodeText(at(9), undefined, { maxDepth: 8 }).diagnostics).toEqual([
      expect.objectContaining({ kind: 'invalid-message', id: 1, reason: 'nested deeper than 8 levels' }),
    ]);
  });

  it('measures each batch item on its own', () => {
    const deep = `{"jsonrpc":"2.0","id":2,"method":"m","params":${nestedText('object', 50)}}`;
    const out = decodeText(`[{"jsonrpc":"2.0","id":1,"method":"m"},${deep}]`, undefined, { maxDepth: 10 });
    expect(out.batch).toBe(true);
    expect(out.messages).toEqual([{ jsonrpc: '2.0', id: 1, method: 'm' }]);
    expect(out.diagnostics).toEqual([expect.objectContaining({ id: 2, reason: 'nested deeper than 10 levels' })]);
  });

  it('calls a frame a batch only when it is a non-empty array (JSON-RPC 2.0 §6)', () => {
    expect(decodeText('[{"jsonrpc":"2.0","method":"m"}]').batch).toBe(true);
    expect(decodeText('[1]').batch).toBe(true);
    expect(decodeText('[]').batch).toBe(false);
    expect(decodeText('[{"jsonrpc":"2.0", "method"').batch).toBe(false);
    expect(decodeText('{"jsonrpc":"2.0","method":"m"}').batch).toBe(false);
  });

  it('never throws and never lets a too-deep message through, on nesting-heavy input', () => {
    const maxDepth = 64;
    const levels = fc.array(fc.constantFrom('[', '{"k":', '{"a":1,"b":', '[1,'), { minLength: 1, maxLength: 40 });
    const nesting = fc
      .tuple(levels, fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('0', '"s"', '[]', '{}', 'null'), fc.nat(), fc.boolean(), fc.boolean())
      .map(([pattern, repeat, leaf, cut, truncate, envelope]) => {
        const opens: string[] = [];
        for (let i = 0; i < repeat; i++) opens.push(pattern[i % pattern.length]!);
        const close = opens.map((o) => (o.startsWith('[') ? ']' : '}')).reverse().join('');
        let body = `${opens.join('')}${leaf}${close}`;
        if (envelope) body = `{"jsonrpc":"2.0","id":3,"result":${body}}`;
        return truncate ? body.slice(0, cut % body.length) : body;
      });
    fc.assert(
      fc.property(nesting, (text) => {
        const out = decodeText(text, undefined, { maxDepth });
        expect(out.messages.length + out.diagnostics.length).toBeGreaterThan(0);
        for (const m of out.messages) expect(validationError(m)).toBeNull();
        for (const m of out.messages) expect(depthOf(m)).toBeLessThanOrEqual(maxDepth);
        for (const d of out.diagnostics) if ('preview' in d) expect(d.preview.length).toBeLessThanOrEqual(201);
      }),
      { numRuns: 200 },
    );
  });
});

describe('previewValue', () => {
  it('equals the preview of JSON.stringify for JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        expect(previewValue(value)).toBe(preview(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });

  it('is bounded and total on values JSON.stringify cannot handle', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 200_000; i++) deep = i % 2 ? [deep] : { a: deep };
    expect(previewValue(deep).length).toBeLessThanOrEqual(201);
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    expect(previewValue(cycle)).toBe('{"a":1,"self":"[Circular]"}');
    expect(previewValue({ n: 10n, f: () => 1, u: undefined, list: [undefined, Number.NaN] })).toBe('{"n":10,"list":[null,null]}');
    expect(previewValue(undefined)).toBe('undefined');
    expect(previewValue('x'.repeat(10_000_000))).toBe(`"${'x'.repeat(199)}…`);
    const wide = Array.from({ length: 1_000_000 }, (_, i) => i);
    expect(previewValue(wide)).toBe(preview(JSON.stringify(wide)));
  });
});

describe('sniffResponseId', () => {
  const head = (text: string) => sniffResponseId(text, '');
  const tail = (text: string) => sniffResponseId('{"result":{"content":[', text);

  it('finds a top-level id before the first nested value', () => {
    expect(head('{"jsonrpc":"2.0","id":42,"result":{"content":[{"text":"aaaa')).toBe(42);
    expect(head('{"id" :  -7 , "result"')).toBe(-7);
    expect(head('{"id":3.25,')).toBe(3.25);
    expect(head('{"jsonrpc":"2.0","id":"a\\"b\\\\c","result":')).toBe('a"b\\c');
    expect(head('{"id":"\\u00e9","result":')).toBe('é');
  });

  it('finds a top-level id that is the last key (the MCP SDK writes {result, jsonrpc, id})', () => {
    expect(tail('aaaaaaaaaaaa"}]},"jsonrpc":"2.0","id":"tail-9"}')).toBe('tail-9');
    expect(tail('xxxxx"}],"id":123}\n')).toBe(123);
  });

  it('ignores ids nested inside the result, in the head or the tail', () => {
    expect(sniffResponseId('{"result":{"content":[{"id":3,"text":"aaa', 'aaa"}],"meta":{"id":3}}}')).toBeUndefined();
    expect(sniffResponseId('{"result":{"items":[{"id":3}', 'xx"},"jsonrpc":"2.0","id":7}')).toBe(7);
  });

  it('gives nothing for the server’s own requests (another id space)', () => {
    expect(head('{"jsonrpc":"2.0","id":5,"method":"sampling/createMessage","params":{')).toBeUndefined();
    expect(sniffResponseId('{"params":{"big":"aaa', 'aaa"},"method":"roots/list","jsonrpc":"2.0","id":5}')).toBeUndefined();
  });

  it('returns undefined when there is no usable id', () => {
    expect(sniffResponseId('', '')).toBeUndefined();
    expect(head('{"jsonrpc":"2.0","method":"notifications/progress"')).toBeUndefined();
    expect(head('{"id":null,"error":{}}')).toBeUndefined();
    expect(head('{"identifier":5,"result":{')).toBeUndefined();
    expect(head('{"id":"unterminated')).toBeUndefined();
  });

  it('recovers any id from the head of a serialised response', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.string({ unit: 'binary' }).filter((t) => !/[{[]/.test(t))), (id) => {
        const text = JSON.stringify({ jsonrpc: '2.0', id, result: { text: 'x'.repeat(10) } });
        expect(sniffResponseId(text.slice(0, 200), text.slice(-200))).toEqual(id);
      }),
      { numRuns: 300 },
    );
  });

  it('recovers any id from the tail of an SDK-ordered response', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.string({ unit: 'binary' })), (id) => {
        const text = JSON.stringify({ result: { content: [{ type: 'text', text: 'x'.repeat(300) }] }, jsonrpc: '2.0', id });
        expect(sniffResponseId(text.slice(0, 100), text.slice(-100))).toEqual(id);
      }),
      { numRuns: 300 },
    );
  });
});

describe('decodeInto (the allocation-free decode path)', () => {
  const sinkOf = () => {
    const events: Array<[string, unknown]> = [];
    return { events, sink: { message: (m: unknown) => events.push(['message', m]), diagnostic: (d: unknown) => events.push(['diagnostic', d]) } };
  };

  it('hands a single message to the sink and says it was no batch', () => {
    const { events, sink } = sinkOf();
    expect(decodeInto('{"jsonrpc":"2.0","id":1,"result":"ok"}', 38, sink)).toBe(false);
    expect(events).toEqual([['message', { jsonrpc: '2.0', id: 1, result: 'ok' }]]);
  });

  it('unrolls a batch in item order, diagnostics between messages', () => {
    const { events, sink } = sinkOf();
    expect(decodeInto('[{"jsonrpc":"2.0","method":"a"},{"x":1},{"jsonrpc":"2.0","method":"b"}]', 70, sink)).toBe(true);
    expect(events.map(([kind]) => kind)).toEqual(['message', 'diagnostic', 'message']);
  });

  it('still finds a too-deep message in a long text, and trusts the length bound in a short one', () => {
    const deep = `{"jsonrpc":"2.0","id":4,"result":${'['.repeat(20)}${']'.repeat(20)}}`;
    const { events, sink } = sinkOf();
    decodeInto(deep, deep.length, sink, 10);
    expect(events).toEqual([['diagnostic', expect.objectContaining({ id: 4, reason: 'nested deeper than 10 levels' })]]);
    const shallow = sinkOf();
    decodeInto(deep, deep.length, shallow.sink, 100); // 75 characters cannot nest 100 deep
    expect(shallow.events.map(([kind]) => kind)).toEqual(['message']);
  });
});

describe('nestedDeeperThan', () => {
  it('counts own keys only, and walks past the recursion limit iteratively', () => {
    const proto = Object.create({ inherited: { a: { b: {} } } }) as Record<string, unknown>;
    proto.own = 1;
    expect(nestedDeeperThan(proto, 1)).toBe(false);
    let deep: unknown = 0;
    for (let i = 0; i < 3000; i++) deep = [deep];
    expect(nestedDeeperThan(deep, 2000)).toBe(true);
    expect(nestedDeeperThan(deep, 3000)).toBe(false);
  });
});
