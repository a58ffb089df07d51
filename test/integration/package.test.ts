/**
 * What `npm publish` would ship: a LICENSE, no source maps, no benchmark code, no dependency on the
 * MCP SDK v1, a `prepack` that builds — and a CLI whose `bench` says where the suite lives instead of crashing.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PackedPackage, ROOT, packPackage } from './packed-package.js';

const run = promisify(execFile);
let packed: PackedPackage;

beforeAll(async () => {
  packed = await packPackage();
});
afterAll(() => packed?.remove());

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  license: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|svelte)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe('the published package', () => {
  it('carries the MIT LICENSE its manifest names, the README and the runtime', () => {
    const paths = packed.files.map((f) => f.path);
    expect(manifest.license).toBe('MIT');
    expect(paths).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/src/node/cli.js', 'dist/src/client/index.js', 'dashboard/dist/index.html', 'examples/python-server/server.py']));
    expect(readFileSync(join(packed.packageDir, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('holds no source maps, benchmark code, tests or Python caches', () => {
    const unwanted = packed.files.map((f) => f.path).filter((p) => p.endsWith('.map') || /(^|\/)bench\//.test(p) || p.startsWith('test/') || p.includes('__pycache__'));
    expect(unwanted).toEqual([]);
  });

  it('builds before packing (prepack)', () => {
    expect(manifest.scripts.prepack).toBe('npm run build');
  });

  it('needs no MCP SDK v1 at run time: not a dependency, imported by no source file; the browser code imports no MCP package', () => {
    // The v2 client package is allowed (remote servers over Streamable HTTP use its transport and OAuth); v1 is not.
    expect(Object.keys(manifest.dependencies).filter((d) => d.startsWith('@modelcontextprotocol/') && d !== '@modelcontextprotocol/client')).toEqual([]);
    const v1 = /from\s+['"]@modelcontextprotocol\/sdk|import\(\s*['"]@modelcontextprotocol\/sdk/;
    const any = /from\s+['"]@modelcontextprotocol\/|import\(\s*['"]@modelcontextprotocol\//;
    const sources = [...sourceFiles(join(ROOT, 'src')), ...sourceFiles(join(ROOT, 'dashboard/src'))];
    expect(sources.filter((file) => v1.test(readFileSync(file, 'utf8'))).map((file) => relative(ROOT, file))).toEqual([]);
    const browser = sources.filter((file) => /\/(src\/core|src\/client|dashboard\/src)\//.test(file));
    expect(browser.filter((file) => any.test(readFileSync(file, 'utf8'))).map((file) => relative(ROOT, file))).toEqual([]);
    const packedImporters = packed.files
      .filter((f) => f.path.endsWith('.js'))
      .filter((f) => /["']@modelcontextprotocol\/sdk/.test(readFileSync(join(packed.packageDir, f.path), 'utf8')))
      .map((f) => f.path);
    expect(packedImporters).toEqual([]);
  });

  it("runs its CLI, whose bench explains that the suite is not installed", async () => {
    const cli = join(packed.packageDir, 'dist/src/node/cli.js');
    const version = await run(process.execPath, [cli, '--version'], { cwd: packed.dir });
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const bench = await run(process.execPath, [cli, 'bench', '--quick'], { cwd: packed.dir }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bench.code).toBe(2);
    expect(bench.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^mcp-ipc: the benchmark suite is not part of the installed package; .*npm run bench/)]);
  });
});
