import { describe, expect, it } from 'vitest';
import { ToolDeniedError } from '../../src/core/errors.js';
import { ToolPolicy, compileGlob } from '../../src/node/tool-policy.js';

describe('compileGlob', () => {
  it('matches whole names with *, ? and sets', () => {
    const g = (p: string) => compileGlob(p);
    expect(g('delete_*').test('delete_file')).toBe(true);
    expect(g('delete_*').test('undelete_file')).toBe(false);
    expect(g('*_file').test('delete_file')).toBe(true);
    expect(g('get?').test('get1')).toBe(true);
    expect(g('get?').test('get12')).toBe(false);
    expect(g('[rw]rite').test('write')).toBe(true);
    expect(g('[!rw]rite').test('write')).toBe(false);
    expect(g('[!rw]rite').test('bite')).toBe(false); // 2 letters + ite needed
    expect(g('v[0-9]').test('v7')).toBe(true);
    expect(g('*').test('')).toBe(true);
  });

  it('treats regex metacharacters as themselves', () => {
    expect(compileGlob('a.b').test('a.b')).toBe(true);
    expect(compileGlob('a.b').test('axb')).toBe(false);
    expect(compileGlob('fs/read(x)+').test('fs/read(x)+')).toBe(true);
    expect(compileGlob('a-b|c').test('a-b|c')).toBe(true);
    expect(compileGlob('a\\*').test('a*')).toBe(true);
    expect(compileGlob('a\\*').test('ab')).toBe(false);
    expect(compileGlob('[oops').test('[oops')).toBe(true);
  });

  it('refuses an empty pattern', () => {
    expect(() => compileGlob('')).toThrow(TypeError);
  });
});

describe('ToolPolicy', () => {
  it('deny wins over allow; allow restricts to its patterns; confirm applies to allowed tools', () => {
    const p = new ToolPolicy('s', { allow: ['read_*', 'search', 'rm_*'], deny: ['rm_*'], confirm: ['read_secret*'] });
    expect(p.decide('read_file')).toEqual({ allowed: true, confirm: false });
    expect(p.decide('read_secrets')).toEqual({ allowed: true, confirm: true, pattern: 'read_secret*' });
    expect(p.decide('rm_rf')).toEqual({ allowed: false, reason: 'denied', pattern: 'rm_*' });
    expect(p.decide('write')).toEqual({ allowed: false, reason: 'not-allowed' });
    expect(p.filter([{ name: 'read_file' }, { name: 'rm_rf' }, { name: 'write' }, { name: 'search' }]).map((t) => t.name)).toEqual(['read_file', 'search']);
  });

  it('check() throws a ToolDeniedError naming the server, tool, reason and pattern', () => {
    const p = new ToolPolicy('files', { deny: ['delete_*'] });
    let error: unknown;
    try {
      p.check('delete_all');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ToolDeniedError);
    expect((error as ToolDeniedError).data).toEqual({ server: 'files', tool: 'delete_all', reason: 'denied', pattern: 'delete_*' });
    expect(p.check('list')).toEqual({ confirm: false });
  });

  it('is empty without patterns, and hands back the same list', () => {
    const p = new ToolPolicy('s', {});
    const tools = [{ name: 'a' }];
    expect(p.empty).toBe(true);
    expect(p.filter(tools)).toBe(tools);
    expect(new ToolPolicy('s', { confirm: ['x'] }).empty).toBe(false);
  });
});
