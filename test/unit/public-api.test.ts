/**
 * The public surface of each package entry point (package.json `exports`), pinned: the runtime
 * exports (what `import * as m` yields) and the type-only exports of every entry, compared with the
 * checked-in test/unit/public-api.txt. A new export — or a lost one — fails here, so that it is a
 * deliberate change: review it, then update the list with
 * `npx vitest run test/unit/public-api.test.ts -u`.
 * Entry files name every export (no `export *`, which would publish every internal of a module).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { default: string }> };

/** `./dist/src/core/index.js` → `src/core/index.ts`: the source each entry is built from. */
const sourceOf = (built: string) => built.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts');
const entries = Object.entries(pkg.exports).map(([subpath, target]) => ({ subpath, source: sourceOf(target.default) }));

/** Every name an entry file exports, from its export declarations (types included). */
function declaredNames(source: string): { names: string[]; star: string[] } {
  const text = readFileSync(join(ROOT, source), 'utf8');
  const file = ts.createSourceFile(source, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const names: string[] = [];
  const star: string[] = [];
  for (const statement of file.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (!clause || ts.isNamespaceExport(clause)) star.push(statement.getText(file));
      else for (const element of clause.elements) names.push(element.name.text);
    } else if (ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      const name = (statement as { name?: ts.Identifier }).name;
      if (name) names.push(name.text);
    }
  }
  return { names, star };
}

async function surface(): Promise<string> {
  const lines: string[] = [];
  for (const { subpath, source } of entries) {
    const runtime = Object.keys((await import(join(ROOT, source))) as object).sort();
    const { names } = declaredNames(source);
    const types = [...new Set(names)].filter((n) => !runtime.includes(n)).sort();
    // One name per line: a review (and a merge of two branches that each add one) sees exactly what changed.
    for (const name of runtime) lines.push(`${subpath} value ${name}`);
    for (const name of types) lines.push(`${subpath} type ${name}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('public API', () => {
  it.each(entries)('$subpath names every export (no export *)', ({ source }) => {
    expect(declaredNames(source).star).toEqual([]);
  });

  it('is exactly the checked-in list (update it with -u after a deliberate change)', async () => {
    await expect(await surface()).toMatchFileSnapshot('./public-api.txt');
  });

  it('keeps what the README examples, the dashboard and the CLI docs import', async () => {
    const node = (await import('../../src/node/index.js')) as Record<string, unknown>;
    const client = (await import('../../src/client/index.js')) as Record<string, unknown>;
    for (const name of ['McpBridge', 'McpHost', 'loadConfig', 'startGateway', 'AuditLog', 'demoServerConfig', 'ServerPool', 'ProcessManager']) {
      expect(node[name], name).toBeDefined();
    }
    for (const name of ['McpIpcClient', 'WebSocketTransport', 'ok', 'err', 'IpcError']) expect(client[name], name).toBeDefined();
    // Internals stay internal.
    for (const name of ['killGroup', 'listProcessGroup', 'procStat', 'PACKAGE_ROOT', 'DEMO_SERVER_PATH', 'splitText']) expect(node[name], name).toBeUndefined();
  });
});
