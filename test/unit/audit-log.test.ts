import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, type AuditRecord } from '../../src/node/audit-log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-audit-'));
  dirs.push(dir);
  return join(dir, 'audit.log');
}
const record = (i: number): AuditRecord => ({ time: new Date(0).toISOString(), door: 'api', server: 's', method: 'tools/call', tool: `t${i}`, outcome: 'ok', durationMs: i });
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);

describe('AuditLog', () => {
  it('appends one JSON line per record, after what the file already held', () => {
    const path = tempFile();
    writeFileSync(path, `${JSON.stringify(record(0))}\n`);
    const log = new AuditLog(path);
    log.record(record(1));
    log.record(record(2));
    expect(lines(path).map((r) => r.tool)).toEqual(['t0', 't1', 't2']); // on disk before close()
    log.close();
    log.record(record(3));
    expect(lines(path)).toHaveLength(3);
  });

  it('rotates by size: FILE → FILE.1 → FILE.2, the oldest dropped, no line lost or split', () => {
    const path = tempFile();
    const lineBytes = `${JSON.stringify(record(10))}\n`.length;
    const log = new AuditLog(path, { maxBytes: lineBytes * 3, maxFiles: 2 });
    for (let i = 10; i < 20; i++) log.record(record(i)); // 10 lines of equal size, 3 per file
    log.close();
    // [t10 t11 t12] [t13 t14 t15] [t16 t17 t18] [t19]: the first file is gone.
    expect(lines(path).map((r) => r.tool)).toEqual(['t19']);
    expect(lines(`${path}.1`).map((r) => r.tool)).toEqual(['t16', 't17', 't18']);
    expect(lines(`${path}.2`).map((r) => r.tool)).toEqual(['t13', 't14', 't15']);
    expect(existsSync(`${path}.3`)).toBe(false);
    for (const f of [path, `${path}.1`, `${path}.2`]) expect(readFileSync(f, 'utf8').length).toBeLessThanOrEqual(lineBytes * 3);
  });

  it('hashes arguments with a key: canonical (key order does not matter), no raw value, different per key', () => {
    const path = tempFile();
    const a = new AuditLog(path, { hashKey: 'k1' });
    const b = new AuditLog(path, { hashKey: 'k2' });
    const h = a.hashArguments({ password: 'hunter2', user: 'me' });
    expect(h).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(h).toBe(a.hashArguments({ user: 'me', password: 'hunter2' }));
    expect(h).not.toContain('hunter2');
    expect(h).not.toBe(b.hashArguments({ password: 'hunter2', user: 'me' }));
    expect(h).not.toBe(a.hashArguments({ password: 'hunter3', user: 'me' }));
    a.close();
    b.close();
  });

  it('reports a write failure without throwing, and fails at once on an unopenable path', () => {
    expect(() => new AuditLog('/nonexistent-dir-mcp-ipc/audit.log')).toThrow();
    const errors: Error[] = [];
    const log = new AuditLog(tempFile(), { onError: (e) => errors.push(e) });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => log.record({ ...record(1), extra: cyclic } as unknown as AuditRecord)).not.toThrow();
    expect(errors).toHaveLength(1);
    log.close();
    expect(() => new AuditLog(tempFile(), { maxBytes: 0 })).toThrow(TypeError);
  });
});
