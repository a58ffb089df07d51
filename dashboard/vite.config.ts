/**
 * Builds the dashboard SPA into dashboard/dist (served by the gateway as its static dir).
 * `vite build --config dashboard/vite.config.ts` from the package root; `vite --config …` for a dev
 * server that proxies /ws and the HTTP API to a running `mcp-ipc serve` (MCP_IPC_GATEWAY, default :7400).
 */
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const gateway = process.env.MCP_IPC_GATEWAY ?? 'http://127.0.0.1:7400';

export default defineConfig({
  root,
  base: './',
  plugins: [svelte({ configFile: false })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/ws': { target: gateway.replace(/^http/, 'ws'), ws: true },
      '/health': gateway,
      '/metrics': gateway,
    },
  },
});
