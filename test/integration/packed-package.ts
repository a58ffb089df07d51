/**
 * The package as npm would publish it: `npm pack` of the built repo (dist/ must exist: `npm run build`),
 * unpacked into a temporary directory as `node_modules/mcp-ipc`, so tests import and run exactly the
 * published files — nothing the `files` list leaves out. Its runtime dependencies resolve from the
 * repo's node_modules (linked), as an `npm install` would have put them next to it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

export interface PackedFile {
  path: string;
  size: number;
}

export interface PackedPackage {
  /** The temporary directory: a project whose node_modules holds the unpacked package. */
  dir: string;
  /** node_modules/mcp-ipc inside `dir`. */
  packageDir: string;
  files: PackedFile[];
  remove(): void;
}

/** Packs without lifecycle scripts (the test run already built; `prepack` would build again). */
export async function packPackage(): Promise<PackedPackage> {
  if (!existsSync(join(ROOT, 'dist/src/node/cli.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-packed-'));
  try {
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 });
    const [info] = JSON.parse(stdout) as Array<{ filename: string; files: PackedFile[] }>;
    if (!info) throw new Error(`npm pack printed no package: ${stdout}`);
    const packageDir = join(dir, 'node_modules', 'mcp-ipc');
    mkdirSync(packageDir, { recursive: true });
    await run('tar', ['-xzf', join(dir, info.filename), '-C', packageDir, '--strip-components=1']);
    symlinkSync(join(ROOT, 'node_modules'), join(packageDir, 'node_modules'), 'dir');
    return { dir, packageDir, files: info.files, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
