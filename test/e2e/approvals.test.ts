/**
 * The dashboard's approval dialog and Clear cache button in headless Chromium, against a real host
 * (the ops fixture server with a `confirm` tool and a cache) and the gateway serving the built
 * dashboard. Needs `npm run build` first and Chromium at /usr/bin/chromium.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '../../src/core/gateway-protocol.js';
import { startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STATIC_DIR = join(ROOT, 'dashboard/dist');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let host: McpHost;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(join(STATIC_DIR, 'index.html'))) throw new Error(`${STATIC_DIR}/index.html is missing: run "npm run build" first`);
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}`);
  const ops = {
    command: process.execPath,
    args: [join(ROOT, 'test/fixtures/ops-server.mjs')],
    cache: { tools: ['slow'] },
    tools: { confirm: ['pay'] },
  };
  host = new McpHost({ mcpServers: { ops } });
  await host.startAll();
  gateway = await startGateway({ host, port: 0, staticDir: STATIC_DIR });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(gateway.url);
  await page.waitForSelector('[data-testid="connection-indicator"][data-state="open"]');
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await host?.stopAll();
});

describe('dashboard approvals and cache', () => {
  it('a confirm call waits for the dialog: Approve runs it, Reject refuses it', async () => {
    const bridge = host.get('ops')!;
    const approved = bridge.call('pay', { to: 'alice', amount: 3 });
    const dialog = page.getByTestId('approval-dialog');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('"to": "alice"');
    await page.getByTestId('approve-button').click();
    expect(((await approved) as CallToolResult).content[0]?.text).toBe('pay #1');
    await dialog.waitFor({ state: 'detached' });

    const rejected = bridge.call('pay', { to: 'mallory' }).catch((e: unknown) => e);
    await dialog.waitFor();
    await page.getByTestId('reject-button').click();
    expect(await rejected).toMatchObject({ code: 'ToolDenied', data: { reason: 'rejected' } });
  });

  it('Clear cache empties the result cache', async () => {
    const bridge = host.get('ops')!;
    await bridge.call('slow', { q: 'e2e' });
    expect(bridge.cacheStats()?.entries).toBe(1);
    await page.getByTestId('clear-cache').click();
    await expect.poll(() => bridge.cacheStats()?.entries).toBe(0);
  });
});
