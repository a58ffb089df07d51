/**
 * What a server's environment holds: least privilege by default (the MCP SDK's
 * `getDefaultEnvironment` is the model), plus the tree cookie every descendant inherits.
 *
 * A server gets an allow-listed part of the host's environment (where programs live, who the user
 * is, locale, temp dirs) plus its config's `env`, never the rest: the host's environment holds
 * secrets — the gateway's access token (`MCP_IPC_TOKEN`) above all — that a third-party server has
 * no business reading. `inheritEnv: true` passes the whole environment instead, still without the
 * token unless the config's `env` names it.
 */
import { randomBytes } from 'node:crypto';

/** Carries a server's tree cookie; hierarchical: `outer/inner`. */
export const TREE_VARIABLE = 'MCP_IPC_TREE';
/** The gateway's access token: never passed to a server unless its config's `env` names it. */
export const TOKEN_VARIABLE = 'MCP_IPC_TOKEN';

const POSIX_NAMES = ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TMP', 'TEMP'];
const WINDOWS_NAMES = [
  'APPDATA', 'HOMEDRIVE', 'HOMEPATH', 'LOCALAPPDATA', 'PATH', 'PROCESSOR_ARCHITECTURE', 'SYSTEMDRIVE', 'SYSTEMROOT', 'TEMP',
  'USERNAME', 'USERPROFILE', 'PROGRAMFILES',
  // Beyond the SDK's list: temp dir, and what cmd.exe needs to run `.cmd` shims (npx, uvx).
  'TMP', 'PATHEXT', 'COMSPEC', 'WINDIR', 'LANG', 'TZ',
];
const POSIX_SET: ReadonlySet<string> = new Set(POSIX_NAMES);
const WINDOWS_SET: ReadonlySet<string> = new Set(WINDOWS_NAMES);
/** Locale categories (LC_ALL, LC_CTYPE, …). */
const PREFIXES = ['LC_'];
/** A cookie segment: safe unquoted in a shell and literal in an extended regular expression. */
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * The allow-listed part of `hostEnv` for `os`. Like the SDK, values that start with `()` (exported
 * shell functions, a classic injection vector) are skipped. Windows names match case-insensitively.
 */
export function defaultEnvironment(hostEnv: NodeJS.ProcessEnv, os: NodeJS.Platform = process.platform): Record<string, string> {
  const windows = os === 'win32';
  const names = windows ? WINDOWS_SET : POSIX_SET;
  const env: Record<string, string> = {};
  // Names first, values only of the allowed ones: each read of process.env is a call into the OS's environment.
  for (const key of Object.keys(hostEnv)) {
    const name = windows ? key.toUpperCase() : key;
    if (!names.has(name) && !PREFIXES.some((p) => name.startsWith(p))) continue;
    const value = hostEnv[key];
    if (value !== undefined && !value.startsWith('()')) env[key] = value;
  }
  return env;
}

export interface ChildEnvironmentParams {
  /** The config's own variables: always passed, over anything else. */
  env?: Record<string, string>;
  /** Pass the host's whole environment instead of the allow-list (still without `MCP_IPC_TOKEN`). */
  inheritEnv?: boolean;
}

/**
 * A server's environment: the allow-list (or, with `inheritEnv`, everything but the access token),
 * then the config's `env`, then the tree cookie, which nothing overrides.
 */
export function childEnvironment(
  params: ChildEnvironmentParams,
  cookie: string,
  hostEnv: NodeJS.ProcessEnv = process.env,
  os: NodeJS.Platform = process.platform,
  defaults: (hostEnv: NodeJS.ProcessEnv) => Record<string, string> = (h) => defaultEnvironment(h, os),
): Record<string, string> {
  const windows = os === 'win32';
  const fold = (name: string) => (windows ? name.toUpperCase() : name);
  const env: Record<string, string> = {};
  if (params.inheritEnv) {
    for (const [key, value] of Object.entries(hostEnv)) if (value !== undefined && fold(key) !== TOKEN_VARIABLE) env[key] = value;
  } else Object.assign(env, defaults(hostEnv));
  // Windows names are case-insensitive: `Path` from the config replaces the host's `PATH`.
  let keys: Map<string, string[]> | undefined;
  if (windows) {
    keys = new Map();
    for (const key of Object.keys(env)) keys.set(fold(key), [...(keys.get(fold(key)) ?? []), key]);
  }
  const put = (name: string, value: string) => {
    if (keys) {
      for (const old of keys.get(fold(name)) ?? []) delete env[old];
      keys.set(fold(name), [name]);
    }
    env[name] = value;
  };
  for (const [name, value] of Object.entries(params.env ?? {})) put(name, value);
  put(TREE_VARIABLE, cookie);
  return env;
}

/**
 * A new cookie for a server spawned by this host: `<outer>/<id>` when the host itself runs inside a
 * tree (`MCP_IPC_TREE` in its environment, e.g. a host started by another host, or by a test run),
 * so everything stays findable from the outer tree by prefix; otherwise just `<id>`. An outer value
 * that is not a well-formed cookie is ignored (the server starts a new tree).
 */
export function newTreeCookie(hostEnv: NodeJS.ProcessEnv = process.env, id = randomBytes(8).toString('hex')): string {
  const outer = hostEnv[TREE_VARIABLE];
  return outer && isCookie(outer) ? `${outer}/${id}` : id;
}

/** Whether a `MCP_IPC_TREE` value belongs to the tree `cookie`: the cookie itself or a cookie below it. */
export function inTree(value: string | undefined, cookie: string): boolean {
  return value !== undefined && cookie !== '' && (value === cookie || value.startsWith(`${cookie}/`));
}

/** Well-formed: segments of letters, digits, `_` and `-`, joined by `/`. */
export function isCookie(value: string): boolean {
  return value.length > 0 && value.length <= 512 && value.split('/').every((s) => SEGMENT.test(s));
}
