#!/usr/bin/env node
/**
 * Cold start to the first tool result, mcp-ipc (McpBridge) against the MCP SDK v1 client, with the
 * same environment for both; each start a fresh process (modules loaded before the clock starts),
 * contenders alternating, medians (min–max). Not part of the published package.
 *
 *   npm run build
 *   node bench/cold-start.mjs [--rounds 7] [--server PATH] [--lib dist --lib /other/dist]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const HERE = dirname(fileURLToPath(import.meta.url));

async function main(argv) {
  const libs = [];
  let rounds = 7;
  let server = join(HERE, '..', 'test', 'fixtures', 'echo-server.mjs');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--lib') libs.push(resolve(argv[++i]));
    else if (argv[i] === '--rounds') rounds = Number(argv[++i]);
    else if (argv[i] === '--server') server = resolve(argv[++i]);
    else throw new TypeError(`unknown argument ${argv[i]}`);
  }
  if (libs.length === 0) libs.push(resolve(HERE, '..', 'dist'));
  const who = [['sdk', '-'], ...libs.map((lib) => ['mcp-ipc', lib])];
  const ms = new Map(who.map((w) => [w.join(' '), []]));
  for (let r = 0; r < rounds; r++) {
    for (const w of who) {
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', ...w, server], { encoding: 'utf8' });
      ms.get(w.join(' ')).push(Number(out.trim().split('\n').pop()));
    }
  }
  console.log(`server: ${server}; rounds: ${rounds}; ms from start to the first tools/call result`);
  for (const [name, v] of ms) {
    v.sort((a, b) => a - b);
    console.log(`${name.padEnd(60)} ${v[v.length >> 1].toFixed(1).padStart(8)}  (${v[0].toFixed(1)}–${v[v.length - 1].toFixed(1)})`);
  }
}

async function worker(who, lib, server) {
  const command = server.endsWith('.mjs') || server.endsWith('.js') ? process.execPath : server;
  const args = command === server ? [] : [server];
  const env = { ...process.env }; // the same for both
  let run;
  if (who === 'sdk') {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    run = async () => {
      const client = new Client({ name: 'cold-start', version: '0' });
      await client.connect(new StdioClientTransport({ command, args, env, stderr: 'ignore' }));
      await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      return () => client.close();
    };
  } else {
    const { McpBridge } = await import(join(lib, 'src/node/mcp-bridge.js'));
    run = async () => {
      const bridge = new McpBridge('cold-start', { command, args, env });
      await bridge.start();
      await bridge.call('echo', { text: 'hi' });
      return () => bridge.stop();
    };
  }
  const t0 = performance.now();
  const stop = await run();
  const ms = performance.now() - t0;
  await stop();
  console.log(ms);
  process.exit(0);
}

if (process.argv[2] === '--worker') await worker(...process.argv.slice(3));
else await main(process.argv.slice(2));
