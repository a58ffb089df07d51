/**
 * The official Python MCP SDK, for interop tests with a real dual-era peer: a virtual
 * environment at `.venv-mcp/` (gitignored) with `mcp==PYTHON_SDK_VERSION`, created when missing.
 * Vitest's global setup calls `ensurePythonSdk()` once per run (CI's `.ci/run` creates it too);
 * tests read the interpreter from `MCP_IPC_PYTHON_SDK`, or the reason it is missing from
 * `MCP_IPC_PYTHON_SDK_ERROR` — and then fail, saying so, rather than skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const PYTHON_SDK_VERSION = '2.3.0';
export const PYTHON_SDK_VARIABLE = 'MCP_IPC_PYTHON_SDK';
export const PYTHON_SDK_ERROR_VARIABLE = 'MCP_IPC_PYTHON_SDK_ERROR';

const root = resolve(import.meta.dirname, '..');
export const VENV = join(root, '.venv-mcp');
const pythonIn = (venv: string) => (process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python'));

function installedVersion(python: string): string | undefined {
  try {
    return execFileSync(python, ['-c', 'import importlib.metadata as m; print(m.version("mcp"))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** The venv's interpreter, with the SDK installed (built beside and renamed into place, so concurrent runs never see half a venv). */
export function ensurePythonSdk(): string {
  const python = pythonIn(VENV);
  if (existsSync(python) && installedVersion(python) === PYTHON_SDK_VERSION) return python;
  const staging = mkdtempSync(join(root, '.venv-mcp-staging-'));
  try {
    execFileSync(process.platform === 'win32' ? 'python' : 'python3', ['-m', 'venv', staging], { stdio: 'pipe' });
    execFileSync(pythonIn(staging), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--retries', '0', '--timeout', '5', `mcp==${PYTHON_SDK_VERSION}`], { stdio: 'pipe' });
    rmSync(VENV, { recursive: true, force: true });
    renameSync(staging, VENV);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`Could not install the Python MCP SDK ${PYTHON_SDK_VERSION} into ${VENV}: ${stderr || (error as Error).message}`);
  }
  return python;
}

/** Vitest global setup. */
export default function setup(): void {
  try {
    process.env[PYTHON_SDK_VARIABLE] = ensurePythonSdk();
  } catch (error) {
    process.env[PYTHON_SDK_ERROR_VARIABLE] = (error as Error).message;
  }
}
