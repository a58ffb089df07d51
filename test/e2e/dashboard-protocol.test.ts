/**
 * The dashboard's protocol console in headless Chromium against a real host: the official Python
 * SDK fixture (modern era) and server-everything (legacy era) behind the gateway, the built
 * dashboard (dashboard/dist) served by it. A person reads a resource and sees an update arrive,
 * fills a template, gets a prompt with completion, answers elicitation and sampling dialogs, sets
 * the log level and watches logs stream, follows a task to completion, offers roots, and reads the
 * message history. Screenshots of each panel (full width and 420 px) go to test-results/dashboard-protocol/.
 * Needs `npm run build` first and Chromium at /usr/bin/chromium.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';
import { PYTHON_SDK_ERROR_VARIABLE, PYTHON_SDK_VARIABLE } from '../python-sdk.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STATIC_DIR = join(ROOT, 'dashboard/dist');
const SHOTS = join(ROOT, 'test-results/dashboard-protocol');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FIXTURE = join(ROOT, 'test/fixtures/py_sdk_server.py');
const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

let host: McpHost;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let browser: Browser;
let page: Page;
const problems: string[] = [];

function python(): string {
  const path = process.env[PYTHON_SDK_VARIABLE];
  if (!path) throw new Error(`The Python MCP SDK is not available: ${process.env[PYTHON_SDK_ERROR_VARIABLE] ?? 'global setup did not run'}`);
  return path;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function openTab(id: string): Promise<void> {
  await page.getByTestId(`tab-${id}`).click();
  await page.locator(`#tabpanel-${id}`).waitFor({ state: 'visible' });
}

/** Runs `tool` on `server` from the Tools tab with `fields` filled in (without waiting for the result). */
async function startTool(server: string, tool: string, fields: Record<string, string> = {}): Promise<void> {
  await openTab('tools');
  await page.getByTestId('server-select').selectOption(server);
  await page.waitForSelector(`[data-testid="tool-select"] option[value="${tool}"]`, { state: 'attached' });
  await page.getByTestId('tool-select').selectOption(tool);
  for (const [name, value] of Object.entries(fields)) await page.getByTestId(`field-${name}`).fill(value);
  await page.getByTestId('run-button').click();
}

async function resultStatus(status: string, timeout = 15_000): Promise<string> {
  await page.waitForSelector(`#tabpanel-tools [data-testid="result"][data-status="${status}"]`, { timeout });
  return (await page.locator('#tabpanel-tools [data-testid="result"]').textContent()) ?? '';
}

beforeAll(async () => {
  if (!existsSync(join(STATIC_DIR, 'index.html'))) throw new Error(`${STATIC_DIR}/index.html is missing: run "npm run build" before the end-to-end tests`);
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (Debian: apt-get install chromium)`);
  mkdirSync(SHOTS, { recursive: true });
  host = new McpHost({
    mcpServers: {
      py: { command: python(), args: [FIXTURE], process: { healthCheckIntervalMs: 0 } },
      everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], process: { healthCheckIntervalMs: 0 } },
    },
  });
  // The gateway first: it declares the page's sampling / elicitation / roots handlers as client
  // capabilities, which a legacy server learns only once, in `initialize`.
  gateway = await startGateway({ host, port: 0, staticDir: STATIC_DIR });
  await host.startAll();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
}, 90_000);

// A failing step leaves a picture of the page behind (test-results/, next to the panels' screenshots).
afterEach(async ({ task }) => {
  if (task.result?.state === 'fail' && page) await shot(`failed-${task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`);
});

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await host?.stopAll();
});

describe('dashboard protocol console', () => {
  it('shows both servers with their era, protocol version and capabilities', async () => {
    await page.goto(gateway.url);
    await page.waitForSelector('[data-testid="connection-indicator"][data-state="open"]');
    for (const name of ['py', 'everything']) await page.waitForSelector(`[data-testid="server-card"][data-server="${name}"] [data-testid="state-badge"][data-state="running"]`);
    expect(await page.locator('[data-server="py"] [data-testid="era"]').textContent()).toBe('modern · 2026-07-28');
    expect(await page.locator('[data-server="everything"] [data-testid="era"]').getAttribute('data-era')).toBe('legacy');
    const caps = (await page.locator('[data-server="everything"] [data-testid="capabilities"]').textContent()) ?? '';
    expect(caps).toContain('resources (subscribe, listChanged)');
    expect(caps).toContain('tasks');
    await shot('01-overview');
  });

  it('offers roots to a server that asks for them', async () => {
    await openTab('roots');
    await page.getByTestId('roots-server').selectOption('everything');
    await page.getByTestId('root-uri').fill('https://not-a-root');
    await page.getByTestId('root-add').click();
    expect(await page.getByTestId('root-error').textContent()).toContain('file://');
    await page.getByTestId('root-uri').fill('file:///tmp/e2e-project');
    await page.getByTestId('root-name').fill('project');
    await page.getByTestId('root-add').click();
    await page.waitForSelector('[data-testid="root-row"]');
    await shot('02-roots');
    await startTool('everything', 'get-roots-list');
    expect(await resultStatus('done')).toContain('file:///tmp/e2e-project');
  });

  it('reads a resource, subscribes, and sees an update arrive', async () => {
    await openTab('resources');
    await page.getByTestId('resources-server').selectOption('py');
    await page.locator('[data-testid="resource-item"][data-uri="fixture://readme"]').click();
    await expect.poll(() => page.getByTestId('read-result').textContent()).toContain('read me');
    await page.getByTestId('subscribe-button').click();
    await page.waitForSelector('[data-testid="subscription-status"][data-updates="0"]');
    await startTool('py', 'touch', { uri: 'fixture://readme' });
    await resultStatus('done');
    await openTab('resources');
    await page.waitForSelector('[data-testid="subscription-status"][data-updates="1"]');
    await shot('03-resources-updated');
  });

  it('fills a resource template and reads what it expands to, text or binary', async () => {
    await page.locator('[data-testid="template-item"][data-template="fixture://items/{item_id}"]').click();
    await page.getByTestId('template-var-item_id').fill('7');
    expect(await page.getByTestId('template-uri').textContent()).toBe('fixture://items/7');
    await page.getByTestId('template-read').click();
    await expect.poll(() => page.getByTestId('read-result').textContent()).toContain('item 7');
    await shot('04-resource-template');
    // A text/plain blob resource: decoded and shown as its text, never as raw base64.
    await page.getByTestId('resources-server').selectOption('everything');
    await page.locator('[data-testid="template-item"][data-template="demo://resource/dynamic/blob/{resourceId}"]').click();
    await page.getByTestId('template-var-resourceId').fill('1');
    await page.getByTestId('template-read').click();
    await page.waitForSelector('[data-testid="read-result"] [data-testid="content-block"][data-kind="text"]');
    expect(await page.getByTestId('read-result').textContent()).toContain('Resource 1');
    await shot('04b-resource-blob');
  });

  it('gets a prompt, with completion of its arguments', async () => {
    await openTab('prompts');
    await page.getByTestId('prompts-server').selectOption('py');
    await page.waitForSelector('[data-testid="prompt-select"] option[value="greet"]', { state: 'attached' });
    await page.getByTestId('prompt-arg-name').fill('Ada');
    await page.getByTestId('prompt-arg-style').fill('p');
    await expect.poll(() => page.locator('[data-testid="prompt-suggestions-style"] option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['plain', 'pirate', 'poem']);
    await page.getByTestId('prompt-arg-style').fill('pirate');
    await page.getByTestId('prompt-get').click();
    await expect.poll(() => page.locator('[data-testid="prompt-message"]').first().textContent()).toContain('Greet Ada in a pirate style.');
    await shot('05-prompt');
  });

  it('answers an elicitation in the dialog and sees the tool result', async () => {
    await startTool('py', 'ask_name');
    const dialog = page.getByTestId('request-dialog');
    await dialog.waitFor({ state: 'visible' });
    expect(await page.getByTestId('elicitation-message').textContent()).toBe('Your name?');
    expect(await dialog.getByTestId('field-greeting').inputValue()).toBe('hello');
    await dialog.getByTestId('field-name').fill('Ada');
    await shot('06-elicitation-dialog');
    await page.getByTestId('request-accept').click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await resultStatus('done')).toContain('hello Ada');
  });

  it('answers a sampling request with an edited reply, and declining fails the tool', async () => {
    await startTool('py', 'summarize', { text: 'a long story' });
    await page.getByTestId('request-dialog').waitFor({ state: 'visible' });
    expect(await page.getByTestId('sampling-messages').textContent()).toContain('Summarize: a long story');
    await page.getByTestId('sampling-reply').fill('short');
    await shot('07-sampling-dialog');
    await page.getByTestId('request-accept').click();
    expect(await resultStatus('done')).toContain('model said: short');
    await startTool('everything', 'trigger-elicitation-request');
    await page.getByTestId('request-dialog').waitFor({ state: 'visible' });
    await page.keyboard.press('Escape'); // the dialog's cancel: answers `cancel`, never leaves the server waiting
    await page.getByTestId('request-dialog').waitFor({ state: 'hidden' });
    expect((await resultStatus('done')).toLowerCase()).toContain('cancel');
  });

  it('sets the log level and watches logs stream', async () => {
    await openTab('logs');
    await page.getByTestId('log-level-server').selectOption('py');
    await page.getByTestId('log-level').selectOption('debug');
    await page.getByTestId('log-level-set').click();
    await page.waitForSelector('[data-testid="toast"]:has-text("log level debug")');
    await startTool('py', 'log_something');
    await resultStatus('done');
    await openTab('logs');
    await page.getByTestId('logs-filter-server').selectOption('py');
    await page.waitForSelector('[data-testid="log-line"][data-source="mcp"][data-level="warning"]');
    await page.waitForSelector('[data-testid="log-line"][data-source="mcp"][data-level="debug"]');
    await page.getByTestId('logs-filter-level').selectOption('warning');
    await expect.poll(() => page.locator('[data-testid="log-line"]').evaluateAll((ls) => ls.map((l) => l.getAttribute('data-level')))).toEqual(['warning']);
    expect(await page.locator('[data-testid="log-line"]').textContent()).toContain('almost full');
    await page.getByTestId('logs-filter-level').selectOption('');
    await page.getByTestId('logs-filter-server').selectOption('');
    await shot('08-logs');
  });

  it('follows a task to completion', async () => {
    await startTool('everything', 'simulate-research-query', { topic: 'otters' });
    await openTab('tasks');
    await page.waitForSelector('[data-testid="call-row"][data-tool="simulate-research-query"]');
    await page.waitForSelector('[data-testid="task-row"][data-status="working"]');
    await shot('09-task-running');
    await page.waitForSelector('[data-testid="task-row"][data-status="completed"]', { timeout: 20_000 });
    // The call itself ends once the host fetched the task's result.
    await page.waitForSelector('[data-testid="call-row"]', { state: 'detached' });
    await shot('10-task-completed');
    await openTab('tools');
    expect(await resultStatus('done')).toContain('Research Report');
  });

  it('shows the message history, filterable, with the JSON of each message', async () => {
    await openTab('messages');
    await page.waitForSelector('[data-testid="message-row"][data-method="tools/call"]');
    await page.getByTestId('messages-filter-method').fill('prompts/get');
    await expect.poll(() => page.locator('[data-testid="message-row"]').evaluateAll((rs) => rs.map((r) => `${r.getAttribute('data-direction')} ${r.getAttribute('data-kind')}`))).toEqual(['in result', 'out request']);
    await page.locator('[data-testid="message-row"][data-kind="result"] [data-testid="message-toggle"]').click();
    expect(await page.getByTestId('message-json').textContent()).toContain('Greet Ada in a pirate style.');
    await page.getByTestId('messages-filter-method').fill('');
    await page.getByTestId('messages-filter-kind').selectOption('notification');
    await page.waitForSelector('[data-testid="message-row"][data-method="notifications/resources/updated"]');
    await page.getByTestId('messages-filter-kind').selectOption('');
    await page.getByTestId('messages-filter-direction').selectOption('in');
    await page.waitForSelector('[data-testid="message-row"][data-kind="request"][data-method="elicitation/create"]');
    await page.getByTestId('messages-filter-direction').selectOption('');
    await shot('11-messages');
  });

  it('is keyboard-usable: the tabs move with the arrow keys', async () => {
    await page.getByTestId('tab-messages').focus();
    await page.keyboard.press('ArrowRight');
    await page.locator('#tabpanel-logs').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('tab-logs');
    await page.keyboard.press('Home');
    await page.locator('#tabpanel-overview').waitFor({ state: 'visible' });
  });

  it('is readable at 420 px: no panel scrolls sideways', async () => {
    await page.setViewportSize({ width: 420, height: 900 });
    for (const tab of ['overview', 'tools', 'resources', 'prompts', 'tasks', 'messages', 'logs', 'roots']) {
      await openTab(tab);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, tab).toBeLessThanOrEqual(0);
      await shot(`narrow-${tab}`);
    }
    await page.setViewportSize({ width: 1400, height: 1000 });
  });

  it('hides what a restricted gateway does not allow (host control, methods off its allow-list)', async () => {
    const restricted = await startGateway({ host, port: 0, staticDir: STATIC_DIR, allowHostControl: false, methods: ['tools/list', 'tools/call', 'resources/list', 'resources/templates/list'] });
    const other = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    try {
      await other.goto(restricted.url);
      const card = other.locator('[data-testid="server-card"][data-server="py"]');
      await card.locator('[data-testid="state-badge"][data-state="running"]').waitFor();
      expect(await card.getByTestId('restart-button').isDisabled()).toBe(true);
      expect(await card.getByTestId('restart-button').getAttribute('title')).toContain('host control');
      await other.getByTestId('tab-resources').click();
      expect(await other.getByTestId('resources-refused').textContent()).toContain('resources/read');
      await other.getByTestId('tab-prompts').click();
      expect(await other.getByTestId('prompts-refused').textContent()).toContain('prompts/list');
      expect(await other.getByTestId('prompts-error').count()).toBe(0);
      await other.screenshot({ path: join(SHOTS, '12-restricted-gateway.png'), fullPage: true });
    } finally {
      await other.close();
      await restricted.close();
    }
  });

  it('raised no page or console errors', () => {
    expect(problems).toEqual([]);
  });
});
