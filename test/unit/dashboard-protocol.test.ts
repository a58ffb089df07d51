/** The dashboard's protocol-console rules (dashboard/src/lib), pure functions and a fake client. */
import { get } from 'svelte/store';
import { describe, expect, it } from 'vitest';
import { NotConnectedError } from '../../src/core/errors.js';
import type { SequencedEvent, ServerEvent } from '../../src/core/gateway-protocol.js';
import { err, ok, type Result } from '../../src/core/result.js';
import { base64Bytes, contentView, resourceContentsView } from '../../dashboard/src/lib/content.js';
import { atBottom, filterLogLines, toLogLine } from '../../dashboard/src/lib/logs.js';
import { type ProtocolClient, ProtocolConsole, type ServerRequestHandler } from '../../dashboard/src/lib/protocol.js';
import { loadRoots, rootError, rootsAnswer, saveRoots } from '../../dashboard/src/lib/roots.js';
import { buildArguments, fieldsFromSchema, initialValues } from '../../dashboard/src/lib/schema-form.js';
import { createRequestInbox, DeclinedError, elicitationAnswer, safeUrl, samplingAnswer, samplingView } from '../../dashboard/src/lib/server-requests.js';
import { capabilityLabels, eraLabel } from '../../dashboard/src/lib/server-view.js';
import { canCancelTasks, canListTasks, parseTasks, taskRows } from '../../dashboard/src/lib/tasks.js';
import { createTrafficLog, filterTraffic, methodsSeen, PAYLOAD_LIMIT_BYTES } from '../../dashboard/src/lib/traffic.js';
import { expandTemplate, templateVariables } from '../../dashboard/src/lib/uri-template.js';

describe('uri templates', () => {
  it('lists the variables of every operator, once each', () => {
    expect(templateVariables('fixture://items/{item_id}')).toEqual(['item_id']);
    expect(templateVariables('file:///{+path}{?q,lang}{&page}{#frag}/{id}{.ext}{/seg*}{;p:3}')).toEqual(['path', 'q', 'lang', 'page', 'frag', 'id', 'ext', 'seg', 'p']);
    expect(templateVariables('x://{a}/{a}')).toEqual(['a']);
    expect(templateVariables('no-variables')).toEqual([]);
  });

  it('expands values, encoding what the operator requires and leaving empty ones out', () => {
    expect(expandTemplate('fixture://items/{item_id}', { item_id: '7' })).toBe('fixture://items/7');
    expect(expandTemplate('x://{name}', { name: 'a b/c' })).toBe('x://a%20b%2Fc');
    expect(expandTemplate('file:///{+path}', { path: 'home/me/a b.txt' })).toBe('file:///home/me/a%20b.txt');
    expect(expandTemplate('x://s{?q,lang}', { q: 'otters & seals', lang: '' })).toBe('x://s?q=otters%20%26%20seals');
    expect(expandTemplate('x://s{?q,lang}', {})).toBe('x://s');
    expect(expandTemplate('x:/{/a,b}{.ext}{;p}{#f}{&z}', { a: '1', b: '2', ext: 'json', p: 'v', f: 'top', z: '9' })).toBe('x://1/2.json;p=v#top&z=9');
    expect(expandTemplate('x://{id:3}', { id: 'abcdef' })).toBe('x://abc');
  });
});

describe('content views', () => {
  it('renders text, JSON resources, safe images and audio inline, and anything else as a download', () => {
    expect(contentView({ type: 'text', text: 'hi' })).toEqual({ kind: 'text', text: 'hi' });
    expect(resourceContentsView({ uri: 'x://a', mimeType: 'application/json', text: '{"a":1}' })).toEqual({ kind: 'json', text: '{\n  "a": 1\n}', mimeType: 'application/json' });
    expect(resourceContentsView({ uri: 'x://a', mimeType: 'application/json', text: 'not json' })).toMatchObject({ kind: 'text', text: 'not json' });
    expect(contentView({ type: 'image', data: 'AAAA', mimeType: 'image/png' })).toEqual({ kind: 'image', src: 'data:image/png;base64,AAAA', mimeType: 'image/png' });
    expect(contentView({ type: 'audio', data: 'AAAA', mimeType: 'audio/wav' })).toMatchObject({ kind: 'audio' });
    // An SVG can carry script: never inline.
    expect(contentView({ type: 'image', data: 'PHN2Zz4=', mimeType: 'image/svg+xml' })).toMatchObject({ kind: 'blob', mimeType: 'image/svg+xml', bytes: 5 });
    expect(resourceContentsView({ uri: 'x://b', blob: 'aGVsbG8=' })).toEqual({ kind: 'blob', href: 'data:application/octet-stream;base64,aGVsbG8=', mimeType: 'application/octet-stream', bytes: 5 });
    // A text blob is shown as its text (when it is UTF-8); a JSON one pretty-printed; anything else stays a download.
    expect(resourceContentsView({ uri: 'x://t', mimeType: 'text/plain', blob: 'aMOpbGxv' })).toEqual({ kind: 'text', text: 'héllo', mimeType: 'text/plain' });
    expect(resourceContentsView({ uri: 'x://j', mimeType: 'application/json', blob: btoa('{"a":1}') })).toMatchObject({ kind: 'json', text: '{\n  "a": 1\n}' });
    expect(resourceContentsView({ uri: 'x://n', mimeType: 'text/plain', blob: '/w==' })).toMatchObject({ kind: 'blob', bytes: 1 });
    expect(contentView({ type: 'resource', resource: { uri: 'x://c', text: 'inner' } })).toEqual({ kind: 'text', text: 'inner' });
    expect(contentView({ type: 'resource_link', uri: 'x://d', name: 'd', mimeType: 'text/plain' })).toEqual({ kind: 'link', uri: 'x://d', name: 'd', mimeType: 'text/plain' });
    expect(contentView({ type: 'weird', x: 1 })).toMatchObject({ kind: 'unknown' });
    expect(contentView(null)).toMatchObject({ kind: 'unknown' });
  });

  it('computes the decoded size of base64', () => {
    expect(base64Bytes('')).toBe(0);
    expect(base64Bytes('aGVsbG8=')).toBe(5);
    expect(base64Bytes('aGVsbG8h')).toBe(6);
    expect(base64Bytes('aGVsbA==')).toBe(4);
  });
});

describe('traffic log', () => {
  it('records requests with their answer, duration and size, newest first when filtered', () => {
    let clock = 1_000;
    const log = createTrafficLog(10, () => clock);
    const request = log.record({ server: 'a', direction: 'out', kind: 'request', method: 'resources/read', payload: { uri: 'x://é' } });
    clock = 1_025;
    log.record({ server: 'a', direction: 'in', kind: 'result', method: 'resources/read', payload: { contents: [] }, requestEntry: request });
    log.record({ server: 'b', direction: 'in', kind: 'notification', method: 'notifications/message', payload: { level: 'info' } });
    const entries = get(log);
    expect(entries[0]).toMatchObject({ bytes: JSON.stringify({ uri: 'x://é' }).length + 1, time: 1_000 });
    expect(entries[1]).toMatchObject({ durationMs: 25, kind: 'result' });
    expect(filterTraffic(entries, { server: 'a', direction: '', kind: '', method: '' }).map((e) => e.kind)).toEqual(['result', 'request']);
    expect(filterTraffic(entries, { server: '', direction: 'in', kind: '', method: 'MESSAGE' }).map((e) => e.server)).toEqual(['b']);
    expect(filterTraffic(entries, { server: '', direction: '', kind: 'request', method: '' })).toHaveLength(1);
    expect(methodsSeen(entries)).toEqual(['notifications/message', 'resources/read']);
  });

  it('is bounded, and keeps only a preview of a huge payload', () => {
    const log = createTrafficLog(3);
    for (let i = 0; i < 5; i++) log.record({ server: 's', direction: 'out', kind: 'notification', method: `m${i}`, payload: {} });
    expect(get(log).map((e) => e.method)).toEqual(['m2', 'm3', 'm4']);
    log.record({ server: 's', direction: 'in', kind: 'result', method: 'big', payload: { text: 'x'.repeat(PAYLOAD_LIMIT_BYTES * 2) } });
    const big = get(log).at(-1);
    expect(big?.bytes).toBeGreaterThan(PAYLOAD_LIMIT_BYTES * 2);
    expect(typeof big?.payload).toBe('string');
    expect((big?.payload as string).length).toBeLessThan(3_000);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => log.record({ server: 's', direction: 'in', kind: 'result', method: 'c', payload: circular })).not.toThrow();
    log.clear();
    expect(get(log)).toEqual([]);
    expect(() => createTrafficLog(0)).toThrow(TypeError);
  });
});

function fakeClient(answers: Record<string, (params: Record<string, unknown>) => Result<unknown>>) {
  const listeners: Array<{ server: string; method: string; listener: (params: Record<string, unknown>, context: { server: string; method: string }) => void }> = [];
  const handlers = new Map<string, ServerRequestHandler>();
  const client: ProtocolClient = {
    async request(_server, method, params = {}) {
      const answer = answers[method];
      return answer ? answer(params) : err(new NotConnectedError('no'));
    },
    onServerNotification(server, method, listener) {
      const entry = { server, method, listener };
      listeners.push(entry);
      return () => listeners.splice(listeners.indexOf(entry), 1);
    },
    setRequestHandler(method, handler) {
      handlers.set(method, handler);
    },
    async subscribeResource(server, uri, listener) {
      const stop = client.onServerNotification(server, 'notifications/resources/updated', (params) => params.uri === uri && listener(params));
      return ok(async () => stop());
    },
  };
  const notify = (server: string, method: string, params: Record<string, unknown>) => {
    for (const l of [...listeners]) if ((l.server === '*' || l.server === server) && l.method === method) l.listener(params, { server, method });
  };
  return { client, listeners, handlers, notify };
}

describe('ProtocolConsole', () => {
  it('records each request and its result or error, and follows list cursors', async () => {
    const { client } = fakeClient({
      'resources/list': (p) => ok(p.cursor === undefined ? { resources: [{ uri: 'a' }], nextCursor: 'c1' } : { resources: [{ uri: 'b' }] }),
    });
    const traffic = createTrafficLog();
    const pc = new ProtocolConsole(client, traffic);
    const list = await pc.list<{ uri: string }>('s', 'resources/list', 'resources');
    expect(list).toEqual({ ok: true, data: [{ uri: 'a' }, { uri: 'b' }] });
    const failed = await pc.request('s', 'prompts/list');
    expect(failed.ok).toBe(false);
    const entries = get(traffic);
    expect(entries.map((e) => `${e.direction} ${e.kind} ${e.method}`)).toEqual([
      'out request resources/list',
      'in result resources/list',
      'out request resources/list',
      'in result resources/list',
      'out request prompts/list',
      'in error prompts/list',
    ]);
    expect(entries[2]?.payload).toEqual({ cursor: 'c1' });
    expect(entries[5]?.payload).toMatchObject({ code: 'NotConnected' });
    expect(entries[1]?.requestEntry).toBe(entries[0]?.id);
  });

  it('stops following a cursor that never ends', async () => {
    let calls = 0;
    const { client } = fakeClient({ 'tools/list': () => (calls++, ok({ tools: [], nextCursor: 'again' })) });
    await new ProtocolConsole(client, createTrafficLog(5000)).list('s', 'tools/list', 'tools');
    expect(calls).toBe(50);
  });

  it('records every server notification and the server requests it answers, and disposes its listeners', async () => {
    const { client, listeners, handlers, notify } = fakeClient({});
    const traffic = createTrafficLog();
    const pc = new ProtocolConsole(client, traffic);
    notify('s', 'notifications/resources/updated', { uri: 'x://a' });
    pc.handle('roots/list', () => ({ roots: [] }));
    pc.handle('sampling/createMessage', () => {
      throw new DeclinedError('no thanks');
    });
    await expect(handlers.get('roots/list')?.({}, { server: 's', method: 'roots/list' })).resolves.toEqual({ roots: [] });
    await expect(handlers.get('sampling/createMessage')?.({}, { server: 's', method: 'sampling/createMessage' })).rejects.toThrow('no thanks');
    expect(get(traffic).map((e) => `${e.direction} ${e.kind} ${e.method}`)).toEqual([
      'in notification notifications/resources/updated',
      'in request roots/list',
      'out result roots/list',
      'in request sampling/createMessage',
      'out error sampling/createMessage',
    ]);
    pc.dispose();
    expect(listeners).toHaveLength(0);
  });

  it('records a subscription and its unsubscribe, and passes on only its own URI’s updates', async () => {
    const { client, notify } = fakeClient({});
    const traffic = createTrafficLog();
    const pc = new ProtocolConsole(client, traffic);
    const seen: unknown[] = [];
    const sub = await pc.subscribe('s', 'x://a', (p) => seen.push(p.uri));
    expect(sub.ok).toBe(true);
    notify('s', 'notifications/resources/updated', { uri: 'x://b' });
    notify('s', 'notifications/resources/updated', { uri: 'x://a' });
    if (sub.ok) await sub.data();
    notify('s', 'notifications/resources/updated', { uri: 'x://a' });
    expect(seen).toEqual(['x://a']);
    expect(get(traffic).map((e) => `${e.direction} ${e.kind} ${e.method}`)).toEqual([
      'out request resources/subscribe',
      'in result resources/subscribe',
      'in notification notifications/resources/updated',
      'in notification notifications/resources/updated',
      'out request resources/unsubscribe',
      'in result resources/unsubscribe',
      'in notification notifications/resources/updated',
    ]);
  });
});

function event(seq: number, e: Partial<ServerEvent>): SequencedEvent {
  return { seq, method: 'server/event', params: { time: seq, server: 's', type: 'log', level: 'info', message: '', ...e } };
}

describe('logs', () => {
  const events = [
    event(1, { type: 'stderr', message: 'booting' }),
    event(2, { type: 'log', level: 'debug', message: '[fixture] a debug line', data: { server: 's', level: 'debug', logger: 'fixture', data: 'a debug line' } }),
    event(3, { type: 'log', level: 'warn', message: '[fixture] {"disk":"almost full"}', data: { server: 's', level: 'warning', logger: 'fixture', data: { disk: 'almost full' } } }),
    event(4, { type: 'state', message: 'running' }),
    event(5, { type: 'stderr', level: 'warn', message: '10 more stderr lines not shown', server: 't' }),
    event(6, { type: 'log', level: 'warn', message: 'ipc error' }),
  ];

  it('turns stderr and MCP log events into lines with MCP levels and the logger apart', () => {
    expect(toLogLine(events[0] as SequencedEvent)).toMatchObject({ source: 'stderr', level: 'info', text: 'booting' });
    expect(toLogLine(events[2] as SequencedEvent)).toMatchObject({ source: 'mcp', level: 'warning', logger: 'fixture', text: '{"disk":"almost full"}' });
    expect(toLogLine(events[3] as SequencedEvent)).toBeNull();
    expect(toLogLine(events[4] as SequencedEvent)).toMatchObject({ level: 'warning', server: 't' });
    expect(toLogLine(events[5] as SequencedEvent)).toMatchObject({ level: 'warning', text: 'ipc error' });
    expect(toLogLine({ seq: 9, method: 'tools/changed', params: { server: 's', tools: [] } })).toBeNull();
  });

  it('filters by server, minimum level, source and text, oldest first, the last N', () => {
    const all = { server: '', level: '', source: '', text: '' } as const;
    expect(filterLogLines(events, all).map((l) => l.seq)).toEqual([1, 2, 3, 5, 6]);
    expect(filterLogLines(events, { ...all, level: 'warning' }).map((l) => l.seq)).toEqual([3, 5, 6]);
    expect(filterLogLines(events, { ...all, server: 's', source: 'mcp' }).map((l) => l.seq)).toEqual([2, 3, 6]);
    expect(filterLogLines(events, { ...all, text: 'FIXTURE' }).map((l) => l.seq)).toEqual([2, 3]);
    expect(filterLogLines(events, all, 2).map((l) => l.seq)).toEqual([5, 6]);
  });

  it('follows only while the view is at the bottom', () => {
    expect(atBottom({ scrollTop: 480, scrollHeight: 1000, clientHeight: 500 })).toBe(true);
    expect(atBottom({ scrollTop: 100, scrollHeight: 1000, clientHeight: 500 })).toBe(false);
  });
});

describe('requests from the server', () => {
  it('keeps each request pending until answered or rejected, once', async () => {
    const inbox = createRequestInbox(() => 42);
    const first = inbox.ask('s', 'elicitation/create', { message: 'Your name?' });
    const second = inbox.ask('t', 'sampling/createMessage', null);
    const pending = get(inbox);
    expect(pending.map((p) => [p.id, p.server, p.receivedAt])).toEqual([
      [1, 's', 42],
      [2, 't', 42],
    ]);
    expect(pending[1]?.params).toEqual({});
    expect(inbox.answer(1, { action: 'accept', content: { name: 'Ada' } })).toBe(true);
    expect(inbox.answer(1, {})).toBe(false);
    await expect(first).resolves.toEqual({ action: 'accept', content: { name: 'Ada' } });
    inbox.dispose();
    await expect(second).rejects.toBeInstanceOf(DeclinedError);
    expect(get(inbox)).toEqual([]);
  });

  it('shows a sampling request and answers it with a CreateMessageResult', () => {
    const view = samplingView({
      messages: [{ role: 'user', content: { type: 'text', text: 'Summarize: x' } }, { role: 'assistant', content: [{ type: 'image', data: '' }] }],
      systemPrompt: 'be brief',
      maxTokens: 50,
      modelPreferences: { hints: [{ name: 'claude' }, {}] },
    });
    expect(view).toEqual({ messages: [{ role: 'user', text: 'Summarize: x' }, { role: 'assistant', text: '[image]' }], systemPrompt: 'be brief', maxTokens: 50, models: ['claude'] });
    expect(samplingAnswer('short', ' ')).toEqual({ role: 'assistant', content: { type: 'text', text: 'short' }, model: 'human', stopReason: 'endTurn' });
  });

  it('answers elicitations with content only when accepted, and links only http(s) URLs', () => {
    expect(elicitationAnswer('accept', { name: 'Ada' })).toEqual({ action: 'accept', content: { name: 'Ada' } });
    expect(elicitationAnswer('decline', { name: 'Ada' })).toEqual({ action: 'decline' });
    expect(elicitationAnswer('cancel')).toEqual({ action: 'cancel' });
    expect(safeUrl('https://example.com/consent')).toBe('https://example.com/consent');
    expect(safeUrl('javascript:alert(1)')).toBeNull();
    expect(safeUrl('not a url')).toBeNull();
  });

  it('builds elicitation forms: titled choices, enumNames, formats, lengths and multi-select', () => {
    const schema = {
      type: 'object',
      properties: {
        color: { type: 'string', oneOf: [{ const: 'r', title: 'Red' }, { const: 'g', title: 'Green' }] },
        size: { type: 'string', enum: ['s', 'l'], enumNames: ['Small', 'Large'] },
        email: { type: 'string', format: 'email' },
        nick: { type: 'string', minLength: 2, maxLength: 4 },
        tags: { type: 'array', items: { type: 'string', enum: ['a', 'b', 'c'] }, minItems: 1 },
      },
      required: ['color', 'tags'],
    };
    const fields = fieldsFromSchema(schema);
    expect(fields.map((f) => [f.name, f.kind])).toEqual([
      ['color', 'enum'],
      ['size', 'enum'],
      ['email', 'string'],
      ['nick', 'string'],
      ['tags', 'multi'],
    ]);
    expect(fields[0]).toMatchObject({ options: ['r', 'g'], optionLabels: ['Red', 'Green'] });
    expect(fields[1]).toMatchObject({ optionLabels: ['Small', 'Large'] });
    expect(fields[2]?.format).toBe('email');
    const values = initialValues(fields);
    expect(values.tags).toEqual([]);
    expect(buildArguments(fields, { ...values, nick: 'x' })).toEqual({ ok: false, errors: { nick: 'at least 2 characters', tags: 'choose at least 1' } });
    expect(buildArguments(fields, { ...values, nick: 'abc', tags: ['c', 'a', 'zz'] })).toEqual({ ok: true, args: { color: 'r', nick: 'abc', tags: ['a', 'c'] } });
  });
});

describe('tasks', () => {
  it('reads the tasks capability and lists running tasks first, newest first', () => {
    expect(canListTasks({ capabilities: { tasks: { list: {}, cancel: {} } } })).toBe(true);
    expect(canCancelTasks({ capabilities: { tasks: { list: {} } } })).toBe(false);
    expect(canListTasks({ capabilities: null })).toBe(false);
    const tasks = parseTasks({
      tasks: [
        { taskId: 'old', status: 'completed', lastUpdatedAt: '2026-01-01T00:00:03Z' },
        { taskId: 'run', status: 'working', lastUpdatedAt: '2026-01-01T00:00:01Z' },
        { taskId: 'ask', status: 'input_required', lastUpdatedAt: '2026-01-01T00:00:02Z' },
        { taskId: 7, status: 'working' },
        { taskId: 'bad', status: 'sleeping' },
      ],
    });
    expect(taskRows({ s: tasks }).map((t) => `${t.taskId}:${t.terminal}`)).toEqual(['ask:false', 'run:false', 'old:true']);
    expect(parseTasks(null)).toEqual([]);
  });
});

describe('roots', () => {
  it('accepts only file:// URIs, and survives broken storage', () => {
    expect(rootError('file:///tmp/project')).toBeNull();
    expect(rootError('https://example.com')).toBe('roots are file:// URIs');
    expect(rootError(' ')).toBe('a URI is required');
    expect(rootError('::')).toBe('not a URI');
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    saveRoots(storage, { s: [{ uri: 'file:///a', name: 'a' }] });
    expect(loadRoots(storage)).toEqual({ s: [{ uri: 'file:///a', name: 'a' }] });
    store.set('mcp-ipc.roots', '{"s":[{"uri":"http://x"},{"uri":"file:///b","name":""}],"t":3}');
    expect(loadRoots(storage)).toEqual({ s: [{ uri: 'file:///b' }] });
    store.set('mcp-ipc.roots', '{not json');
    expect(loadRoots(storage)).toEqual({});
    expect(loadRoots(undefined)).toEqual({});
    expect(rootsAnswer({}, 's')).toEqual({ roots: [] });
  });
});

describe('server cards', () => {
  it('labels capabilities with their flags, and the era with its version', () => {
    expect(capabilityLabels({ tools: { listChanged: true }, logging: {}, resources: { subscribe: true, listChanged: false } })).toEqual(['logging', 'resources (subscribe)', 'tools (listChanged)']);
    expect(capabilityLabels(null)).toEqual([]);
    expect(eraLabel({ era: 'modern', protocolVersion: '2026-07-28' })).toBe('modern · 2026-07-28');
    expect(eraLabel({ era: null, protocolVersion: null })).toBeNull();
  });
});

describe('a withdrawn server request', () => {
  it('leaves the inbox when its signal aborts, and is never shown when already aborted', async () => {
    const inbox = createRequestInbox();
    const controller = new AbortController();
    const asked = inbox.ask('s', 'elicitation/create', {}, controller.signal);
    expect(get(inbox)).toHaveLength(1);
    controller.abort('timed out');
    await expect(asked).rejects.toThrow('withdrawn: timed out');
    expect(get(inbox)).toEqual([]);
    await expect(inbox.ask('s', 'elicitation/create', {}, AbortSignal.abort())).rejects.toBeInstanceOf(DeclinedError);
    expect(get(inbox)).toEqual([]);
  });
});

describe('what the gateway offers', () => {
  it('allows what is on the allow-list, and everything when the gateway sends no offers', async () => {
    const { offersHostControl, offersMethod, refusal } = await import('../../dashboard/src/lib/offers.js');
    const offers = { methods: ['tools/call', 'resources/read'], hostControl: false, serverRequests: [] };
    expect(offersMethod(offers, 'resources/read')).toBe(true);
    expect(offersMethod(offers, 'prompts/get')).toBe(false);
    expect(refusal(offers, 'prompts/get')).toContain('does not forward prompts/get');
    expect(refusal(offers, 'tools/call')).toBeNull();
    expect(offersHostControl(offers)).toBe(false);
    expect(offersMethod(null, 'anything')).toBe(true);
    expect(offersHostControl(undefined)).toBe(true);
  });
});
