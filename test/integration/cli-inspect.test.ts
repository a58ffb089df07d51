/**
 * The built CLI's inspector commands (info, request, resources, read, prompts, prompt), task tools
 * through `call`, and how it answers sampling/elicitation: from flags, or a clear refusal when
 * there is no terminal to ask on. Needs `npm run build` first (the test script does it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PYTHON_SDK_ERROR_VARIABLE, PYTHON_SDK_VARIABLE } from '../python-sdk.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/node/cli.js');
const EVERYTHING = ['--', process.execPath, join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'];
const FIXTURE = join(ROOT, 'test/fixtures/py_sdk_server.py');

function pySdk(...args: string[]): string[] {
  const python = process.env[PYTHON_SDK_VARIABLE];
  if (!python) throw new Error(`The Python MCP SDK is not available: ${process.env[PYTHON_SDK_ERROR_VARIABLE] ?? 'global setup did not run'}`);
  return ['--', python, FIXTURE, ...args];
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

function cli(args: string[], timeoutMs = 25_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mcp-ipc ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolveRun({ code, stdout, stderr });
    });
  });
}

describe('mcp-ipc info', () => {
  it('reports the modern era of a dual-era server, and the legacy era of a handshake-only one', async () => {
    const modern = await cli(['info', ...pySdk()]);
    expect(modern.code, modern.stderr).toBe(0);
    expect(JSON.parse(modern.stdout)).toMatchObject({ era: 'modern', protocolVersion: '2026-07-28', serverInfo: { name: 'py-fixture' }, capabilities: { tools: {} } });
    const legacy = await cli(['info', ...pySdk('--legacy-only')]);
    expect(JSON.parse(legacy.stdout)).toMatchObject({ era: 'legacy', protocolVersion: '2025-11-25', serverInfo: { name: 'py-fixture' } });
  });
});

describe('mcp-ipc inspector commands (Python SDK server, modern era)', () => {
  it('request, resources, read, prompts, prompt', async () => {
    const request = await cli(['request', 'completion/complete', '{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"style","value":"pi"}}', ...pySdk()]);
    expect(request.code, request.stderr).toBe(0);
    expect(JSON.parse(request.stdout)).toMatchObject({ completion: { values: ['pirate'] } });

    const resources = await cli(['resources', ...pySdk()]);
    expect(JSON.parse(resources.stdout)).toMatchObject({ resources: [{ uri: 'fixture://readme' }], resourceTemplates: [{ uriTemplate: 'fixture://items/{item_id}' }] });

    const read = await cli(['read', 'fixture://items/42', ...pySdk()]);
    expect(JSON.parse(read.stdout)).toMatchObject({ contents: [{ uri: 'fixture://items/42', text: 'item 42' }] });

    const prompts = await cli(['prompts', ...pySdk()]);
    expect(JSON.parse(prompts.stdout)).toMatchObject([{ name: 'greet' }]);

    const prompt = await cli(['prompt', 'greet', '{"name":"Ada","style":"poem"}', ...pySdk()]);
    expect(JSON.parse(prompt.stdout)).toMatchObject({ messages: [{ role: 'user', content: { text: 'Greet Ada in a poem style.' } }] });
  }, 90_000); // five CLI runs, each starting a Python server

  it('answers an input_required elicitation round from --elicit', async () => {
    const run = await cli(['call', 'ask_name', '--elicit', '{"name":"Ada"}', ...pySdk()]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ content: [{ text: 'hello Ada' }] });
  });
});

describe('mcp-ipc call against server-everything', () => {
  it('runs a task tool to its final result, its status on stderr', async () => {
    const run = await cli(['call', 'simulate-research-query', '{"topic":"otters"}', '--timeout', '1000', ...EVERYTHING]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).content[0].text).toContain('Research Report: otters');
    expect(run.stderr).toMatch(/task working/);
  });

  it('answers sampling from --sample, and refuses clearly without it (no terminal)', async () => {
    const answered = await cli(['call', 'trigger-sampling-request', '{"prompt":"hi","maxTokens":5}', '--sample', 'flag answer', ...EVERYTHING]);
    expect(answered.code, answered.stderr).toBe(0);
    expect(answered.stdout).toContain('flag answer');
    const refused = await cli(['call', 'trigger-sampling-request', '{"prompt":"hi","maxTokens":5}', ...EVERYTHING]);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain('pass --sample TEXT');
  });

  it('answers elicitation from --elicit', async () => {
    const run = await cli(['call', 'trigger-elicitation-request', '--elicit', '{"name":"Ada","color":"red","email":"ada@example.com"}', ...EVERYTHING]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Ada');
    const declined = await cli(['call', 'trigger-elicitation-request', '--elicit', 'decline', ...EVERYTHING]);
    expect(declined.stdout).toMatch(/decline/i);
  });
});
