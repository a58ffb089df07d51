/**
 * README.md's examples, run exactly as printed against the packed package (see packed-package.ts):
 * every ```ts block is type-checked against the published types and run with node; every ```sh block
 * marked `run` is run with bash; a ```json block marked `file: NAME` is written to NAME first.
 *
 * The context an example assumes sits in an HTML comment right above it (invisible on GitHub, visible
 * in the Markdown source), one directive per line:
 *
 *   <!-- readme-test
 *   prelude: CODE      TypeScript put before the example (e.g. a browser's `location`)
 *   after: CODE        put after it (e.g. closing what the example leaves open)
 *   stdout: REGEX      stdout must match it (multiline); repeatable
 *   gateway: NAME      a real gateway hosting the demo server as NAME; its URL is README_GATEWAY_URL
 *   file: NAME         (json block) written to NAME in the examples' working directory
 *   run                (sh block) run it
 *   -->
 *
 * The examples' working directory is a project with the package installed (node_modules/mcp-ipc,
 * its bin in node_modules/.bin) and the package's `examples/` folder, like a clone of the repo.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoServerConfig } from '../../src/node/config.js';
import { type Gateway, startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';
import { type PackedPackage, ROOT, packPackage } from './packed-package.js';

interface Directives {
  prelude: string[];
  after: string[];
  stdout: RegExp[];
  gateway?: string;
  file?: string;
  run: boolean;
}

interface Block {
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  directives: Directives;
}

/** Splits README text into fenced blocks, each with the `readme-test` comment right above it (if any). */
export function readmeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let pending: Directives | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.startsWith('<!-- readme-test')) {
      const body: string[] = [];
      while (!(lines[++i] ?? '-->').startsWith('-->')) body.push(lines[i] ?? '');
      if (i >= lines.length) throw new Error(`README: readme-test comment at line ${i} is not closed`);
      pending = parseDirectives(body, i);
      continue;
    }
    const fence = /^```(\w*)\s*$/.exec(line);
    if (fence) {
      const start = i;
      const code: string[] = [];
      while (i + 1 < lines.length && !(lines[i + 1] ?? '').startsWith('```')) code.push(lines[++i] ?? '');
      i++;
      blocks.push({ lang: fence[1] ?? '', code: `${code.join('\n')}\n`, line: start + 1, directives: pending ?? parseDirectives([], start) });
      pending = undefined;
      continue;
    }
    if (pending && line.trim() !== '') throw new Error(`README line ${i + 1}: a readme-test comment must be followed by its code block`);
  }
  return blocks;
}

function parseDirectives(body: string[], at: number): Directives {
  const d: Directives = { prelude: [], after: [], stdout: [], run: false };
  for (const raw of body) {
    const line = raw.trim();
    if (line === '') continue;
    if (line === 'run') {
      d.run = true;
      continue;
    }
    const match = /^(prelude|after|stdout|gateway|file):\s?(.*)$/.exec(line);
    if (!match) throw new Error(`README line ${at}: unknown readme-test directive "${line}"`);
    const [, key, value = ''] = match;
    if (key === 'prelude') d.prelude.push(value);
    else if (key === 'after') d.after.push(value);
    else if (key === 'stdout') d.stdout.push(new RegExp(value, 'm'));
    else if (key === 'gateway') d.gateway = value;
    else d.file = value;
  }
  return d;
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = readmeBlocks(README);
const tsBlocks = blocks.filter((b) => b.lang === 'ts');
const shBlocks = blocks.filter((b) => b.lang === 'sh' && b.directives.run);

/** The module a ts block becomes: prelude, the example as printed, then `after`. */
const moduleSource = (b: Block) => [...b.directives.prelude, b.code, ...b.directives.after].join('\n');
const moduleName = (b: Block) => `readme-line-${b.line}`;

let packed: PackedPackage;
let gateway: Gateway | undefined;
let host: McpHost | undefined;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  packed = await packPackage();
  const modules = join(packed.dir, 'node_modules');
  // What `npm install mcp-ipc` leaves behind: the bin linked and executable, the dependencies beside it.
  chmodSync(join(packed.packageDir, 'dist/src/node/cli.js'), 0o755);
  mkdirSync(join(modules, '.bin'));
  symlinkSync('../mcp-ipc/dist/src/node/cli.js', join(modules, '.bin', 'mcp-ipc'));
  for (const dep of ['ws', '@types', '@modelcontextprotocol']) symlinkSync(join(ROOT, 'node_modules', dep), join(modules, dep), 'dir');
  symlinkSync(join(packed.packageDir, 'examples'), join(packed.dir, 'examples'), 'dir');
  writeFileSync(join(packed.dir, 'package.json'), `${JSON.stringify({ name: 'readme-examples', private: true, type: 'module' })}\n`);
  for (const b of blocks) if (b.directives.file) writeFileSync(join(packed.dir, b.directives.file), b.code);
  for (const b of tsBlocks) writeFileSync(join(packed.dir, `${moduleName(b)}.ts`), moduleSource(b));
});

afterAll(async () => {
  for (const child of children) if (child.pid) process.kill(-child.pid, 'SIGKILL');
  await gateway?.close();
  await host?.stopAll();
  packed?.remove();
});

async function demoGateway(name: string): Promise<string> {
  if (!gateway) {
    host = new McpHost({ mcpServers: { [name]: demoServerConfig() } });
    await host.startAll();
    gateway = await startGateway({ host, port: 0 });
  }
  return gateway.url;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in the examples' directory, in its own process group (killed whole on timeout). */
function runIn(command: string, args: string[], env: Record<string, string>, timeoutMs = 45_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: packed.dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // npx must find what is installed here, never fetch from the registry.
      env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false', ...env },
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
      reject(new Error(`${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

function expectOutput(b: Block, run: Run): void {
  const where = `README line ${b.line}`;
  expect(run.code, `${where} exited with ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0);
  for (const pattern of b.directives.stdout) expect(run.stdout, `${where}: stdout must match ${pattern}`).toMatch(pattern);
}

describe('README examples', () => {
  it('are all found: Node, config, browser and CLI', () => {
    expect(tsBlocks.length).toBeGreaterThanOrEqual(3);
    expect(shBlocks.length).toBeGreaterThanOrEqual(1);
    expect(blocks.filter((b) => b.directives.file).map((b) => b.directives.file)).toContain('mcp.json');
    // Every example that may run says what it must print, so one that prints `undefined` fails.
    for (const b of [...tsBlocks, ...shBlocks]) expect(b.directives.stdout.length, `README line ${b.line}`).toBeGreaterThan(0);
  });

  it('type-check against the published types', () => {
    const program = ts.createProgram(
      tsBlocks.map((b) => join(packed.dir, `${moduleName(b)}.ts`)),
      {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
        types: ['node'],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
      },
    );
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (!d.file || d.start === undefined) return text;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${d.file.fileName.split('/').pop()}:${line + 1}: ${text}`;
    });
    expect(problems).toEqual([]);
  });

  it.each(tsBlocks.map((b) => [b.line, b] as const))('TypeScript at line %i runs as printed', async (_line, b) => {
    const js = ts.transpileModule(moduleSource(b), { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    const file = join(packed.dir, `${moduleName(b)}.mjs`);
    writeFileSync(file, js);
    const env: Record<string, string> = {};
    if (b.directives.gateway) env.README_GATEWAY_URL = await demoGateway(b.directives.gateway);
    expectOutput(b, await runIn(process.execPath, [file], env));
  });

  it.each(shBlocks.map((b) => [b.line, b] as const))('shell at line %i runs as printed', async (_line, b) => {
    expectOutput(b, await runIn('bash', ['-euo', 'pipefail', '-c', b.code], {}));
  });
});
