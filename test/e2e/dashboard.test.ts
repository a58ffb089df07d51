/**
 * The dashboard in headless Chromium against a real host: McpHost(demo) + gateway in-process,
 * the built dashboard (dashboard/dist) served by the gateway. Screenshots go to test-results/.
 * Needs `npm run build` first (the test script does it) and Chromium at /usr/bin/chromium.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoServerConfig } from '../../src/node/config.js';
import { startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STATIC_DIR = join(ROOT, 'dashboard/dist');
const SHOTS = join(ROOT, 'test-results/dashboard');
const DOCUMENTS = join(ROOT, 'examples/python-server/documents');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let host: McpHost;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

const card = '[data-testid="server-card"][data-server="demo"]';
const badge = `${card} [data-testid="state-badge"]`;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Shows a tab of the dashboard (`overview`, `tools`, …). */
async function openTab(id: string): Promise<void> {
  await page.getByTestId(`tab-${id}`).click();
  await page.locator(`#tabpanel-${id}`).waitFor({ state: 'visible' });
}

async function chooseTool(name: string): Promise<void> {
  await openTab('tools');
  await page.waitForSelector(`[data-testid="tool-select"] option[value="${name}"]`, { state: 'attached' });
  await page.getByTestId('tool-select').selectOption(name);
  await page.getByTestId('run-button').waitFor();
}

/** Waits until the result viewer shows `status` (done, tool-error, failed, cancelled). */
async function resultStatus(status: string, timeout = 15_000): Promise<void> {
  await page.waitForSelector(`[data-testid="result"][data-status="${status}"]`, { timeout });
}

beforeAll(async () => {
  if (!existsSync(join(STATIC_DIR, 'index.html'))) {
    throw new Error(`${STATIC_DIR}/index.html is missing: run "npm run build" before the end-to-end tests`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (Debian: apt-get install chromium)`);
  mkdirSync(SHOTS, { recursive: true });
  // CPU/memory sampled often, so the usage charts fill within the test.
  host = new McpHost({ mcpServers: { demo: demoServerConfig({ process: { usageIntervalMs: 300 } }) } });
  await host.startAll();
  gateway = await startGateway({ host, port: 0, staticDir: STATIC_DIR });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await host?.stopAll();
});

describe('dashboard', () => {
  it('shows the demo server running', async () => {
    await page.goto(gateway.url);
    await page.waitForSelector('[data-testid="connection-indicator"][data-state="open"]');
    await page.waitForSelector(`${badge}[data-state="running"]`);
    const colour = await page.locator(badge).evaluate((el) => getComputedStyle(el).color);
    expect(colour).toBe('rgb(31, 157, 85)'); // --ok green
    await expect.poll(() => page.locator(`${card} [data-testid="pid"]`).textContent()).toMatch(/^\d+$/);
    await page.waitForSelector('[data-testid="event-row"]');
    await shot('01-running');
  });

  it('runs search from the tool console', async () => {
    await chooseTool('search');
    await page.getByTestId('field-query').fill('initiative');
    await page.getByTestId('run-button').click();
    await resultStatus('done');
    const text = (await page.getByTestId('result').textContent()) ?? '';
    expect(text.toLowerCase()).toContain('initiative');
    await shot('02-search');
  });

  it('shows the progress of process_document and its summary', async () => {
    await chooseTool('process_document');
    const doc = readdirSync(DOCUMENTS).sort()[0] as string;
    await page.getByTestId('field-file_path').fill(join(DOCUMENTS, doc));
    await page.getByTestId('field-delay_ms').fill('100');
    // Record every aria-valuenow the bar takes (it is created when the run starts).
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __progress: number[] }).__progress = seen;
      const record = () => {
        const bar = document.querySelector('[data-testid="progress-bar"]');
        const value = Number(bar?.getAttribute('aria-valuenow'));
        if (bar && Number.isFinite(value) && seen[seen.length - 1] !== value) seen.push(value);
      };
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    });
    await page.getByTestId('run-button').click();
    await page.waitForFunction(() => ((window as unknown as { __progress: number[] }).__progress ?? []).filter((v) => v > 0).length >= 2);
    await shot('03-progress');
    await resultStatus('done', 30_000);
    const seen = await page.evaluate(() => (window as unknown as { __progress: number[] }).__progress);
    const increases = seen.filter((v, i) => i > 0 && v > (seen[i - 1] as number)).length;
    expect(increases, JSON.stringify(seen)).toBeGreaterThanOrEqual(2);
    expect(((await page.getByTestId('result').textContent()) ?? '').toLowerCase()).toContain('summary');
    await shot('04-processed');
  });

  it('cancels a long sleep', async () => {
    await chooseTool('sleep');
    await page.getByTestId('field-seconds').fill('10');
    await page.getByTestId('run-button').click();
    await page.waitForSelector('[data-testid="result"][data-status="running"]');
    await page.waitForTimeout(300);
    const started = Date.now();
    await page.getByTestId('cancel-button').click();
    await resultStatus('cancelled', 5_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await page.getByTestId('result-status').textContent()).toBe('Cancelled');
    await shot('05-cancelled');
  });

  it('restarts the server: the state passes through restarting/starting and the counter goes up', async () => {
    await openTab('overview');
    const before = Number(await page.locator(`${card} [data-testid="restarts"]`).textContent());
    await page.evaluate((selector) => {
      const states: string[] = [];
      (window as unknown as { __states: string[] }).__states = states;
      const record = () => {
        const state = document.querySelector(selector)?.getAttribute('data-state');
        if (state && states[states.length - 1] !== state) states.push(state);
      };
      record();
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
    }, badge);
    await page.locator(`${card} [data-testid="restart-button"]`).click();
    await page.waitForFunction(() => {
      const states = (window as unknown as { __states: string[] }).__states;
      return states.some((s) => s !== 'running') && states[states.length - 1] === 'running';
    }, undefined, { timeout: 20_000 });
    const states = await page.evaluate(() => (window as unknown as { __states: string[] }).__states);
    expect(states.some((s) => s === 'restarting' || s === 'starting' || s === 'stopping'), states.join(' → ')).toBe(true);
    await expect.poll(async () => Number(await page.locator(`${card} [data-testid="restarts"]`).textContent())).toBeGreaterThan(before);
    await shot('06-restarted');
  });

  it('charts CPU and memory over time', async () => {
    const row = '[data-testid="metrics-row"][data-server="demo"]';
    for (const chart of ['chart-cpu', 'chart-memory']) {
      // attached, not visible: an idle server's CPU line is flat (zero height).
      await page.waitForSelector(`${row} [data-testid="${chart}"] polyline`, { state: 'attached', timeout: 15_000 });
    }
    await expect.poll(() => page.locator(`${row} [data-testid="chart-memory"] .legend b`).textContent(), { timeout: 10_000 }).toMatch(/^\d+\.\d MB$/);
    await page.locator(row).screenshot({ path: join(SHOTS, '07-usage-charts.png') });
  });

  it('a stopped server: no stale readings, no error, Run disabled, one log row per state change', async () => {
    await chooseTool('echo');
    await openTab('overview');
    await page.waitForFunction((sel) => document.querySelector(`${sel} [data-testid="cpu"]`)?.textContent !== '—', card);
    await page.locator(`${card} [data-testid="stop-button"]`).click();
    await page.waitForSelector(`${badge}[data-state="stopped"]`);
    for (const fact of ['pid', 'health-rtt', 'cpu', 'memory', 'uptime']) {
      expect(await page.locator(`${card} [data-testid="${fact}"]`).textContent(), fact).toBe('—');
    }
    const reason = page.locator(`${card} [data-testid="reason"]`);
    expect(await reason.getAttribute('data-level')).toBe('info');
    expect(await reason.evaluate((el) => getComputedStyle(el).color)).not.toBe('rgb(217, 48, 37)');
    expect(await page.getByTestId('run-button').isDisabled()).toBe(true);
    await shot('08-stopped-tools');
    await openTab('overview');
    await page.waitForSelector('[data-testid="event-row"][data-type="state"]');
    const stateRows = await page.locator('[data-testid="event-row"][data-type="state"][data-server="demo"] .message').allTextContents();
    expect(stateRows.filter((m) => /→ stopped/.test(m)), stateRows.join('\n')).toHaveLength(1);
    expect(await page.locator('[data-testid="event-row"][data-level="error"]').count()).toBe(0);
    await shot('08-stopped');

    await page.locator(`${card} [data-testid="start-button"]`).click();
    await page.waitForSelector(`${badge}[data-state="running"]`, { timeout: 20_000 });
    await openTab('tools');
    await expect.poll(() => page.getByTestId('run-button').isDisabled()).toBe(false);
  });

  it('explains a rejected token', async () => {
    const url = new URL(gateway.url);
    url.searchParams.set('token', 'not-the-token');
    const other = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    try {
      await other.goto(url.href);
      const message = other.getByTestId('auth-error');
      await message.waitFor({ timeout: 10_000 });
      expect(await message.textContent()).toContain('npm start');
      await other.screenshot({ path: join(SHOTS, '09-bad-token.png') });
      url.searchParams.delete('token');
      await other.goto(url.href);
      await other.getByTestId('no-token').waitFor();
    } finally {
      await other.close();
    }
  });

  it('raised no uncaught page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
