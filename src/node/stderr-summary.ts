/**
 * The most telling line of a dead server's stderr, for one-line reports: a user who runs
 * `mcp-ipc call … -- python3 server.py` and sees `ModuleNotFoundError: No module named 'x'` knows
 * what to do; one who sees "exited with exit code 1" has to go digging.
 *
 * Runtimes end their crash reports differently, so "the last line" is not always the telling one:
 * Python ends with the exception, Node with its version after the stack (`Node.js v20.…`), others
 * with stack frames or a closing brace. So: the last line that looks like an error, else the last
 * line that is not such noise.
 */

const MAX_CHARS = 300;

/** Lines that never explain anything on their own: stack frames, carets, braces, runtime banners. */
const NOISE: readonly RegExp[] = [
  /^at\s/, // JavaScript / Java stack frame
  /^File ".*", line \d+/, // Python traceback frame
  /^[\^~\s-]*$/, // caret / underline markers
  /^[{}[\]()]+[,;]?$/, // the end of a printed object
  /^Node\.js v\d/, // Node's banner after an uncaught error
  /^\.\.\. \d+ more/, // Java
  /^Traceback \(most recent call last\):$/,
];

const ERRORISH = /(error|exception|fatal|panic|cannot|can't|could not|couldn't|unable|not found|no such|denied|failed|invalid|missing|refused|unsupported|abort)/i;

export interface TellingLineOptions {
  /** Only a line that looks like an error (default false: else the last meaningful line). */
  errorsOnly?: boolean;
}

/** The most telling stderr line (trimmed, at most 300 characters), or undefined when there is none. */
export function tellingLine(lines: readonly string[], options: TellingLineOptions = {}): string | undefined {
  let fallback: string | undefined;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line === '' || NOISE.some((noise) => noise.test(line))) continue;
    if (ERRORISH.test(line)) return clip(line);
    fallback ??= line;
  }
  return options.errorsOnly || fallback === undefined ? undefined : clip(fallback);
}

function clip(line: string): string {
  return line.length > MAX_CHARS ? `${line.slice(0, MAX_CHARS - 1)}…` : line;
}
