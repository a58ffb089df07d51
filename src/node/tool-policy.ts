/**
 * The tool policy of one server (its config's `tools` section): which tools may be listed and
 * called (`allow` / `deny`, glob patterns) and which need a person's approval first (`confirm`).
 *
 * Precedence: `deny` wins over everything; when `allow` is non-empty, a tool must match one of its
 * patterns; `confirm` applies to tools that are allowed. A denied tool is hidden from `tools/list`
 * and a call to it is refused with ToolDeniedError before anything is sent to the server.
 */
import { ToolDeniedError } from '../core/errors.js';

/** A server's `tools` section. */
export interface ToolPolicyConfig {
  /** Glob patterns (`*` any run of characters, `?` one character, `[abc]` a set); when set, only matching tools are offered. */
  allow?: string[];
  /** Glob patterns of tools never offered nor called (wins over `allow`). */
  deny?: string[];
  /** Glob patterns of tools whose every call waits for a person's approval (refused on timeout). */
  confirm?: string[];
  /**
   * How long a `confirm` call waits for an answer before it is refused.
   * @default 120000 (DEFAULTS.policy.confirmTimeoutMs)
   */
  confirmTimeoutMs?: number;
}

/** A compiled glob; `pattern` is kept for error messages and audit lines. */
export interface Glob {
  pattern: string;
  test(name: string): boolean;
}

/**
 * Compiles a glob over a whole tool name: `*` matches any run of characters (tool names have no
 * path separators to stop at), `?` one character, `[abc]` / `[a-z]` / `[!abc]` a set; every other
 * character, regex metacharacters included, stands for itself. `\x` escapes `x`.
 */
export function compileGlob(pattern: string): Glob {
  if (typeof pattern !== 'string' || pattern === '') throw new TypeError(`A tool pattern must be a non-empty string (got ${JSON.stringify(pattern)})`);
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) source += escapeRegExp(pattern[++i]!);
    else if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) {
        source += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith('!');
      if (negated) body = body.slice(1);
      // Inside a class only `\`, `]` and `^` are special once the leading `!` is handled; `-` keeps its range meaning.
      source += `[${negated ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else source += escapeRegExp(c);
  }
  const regex = new RegExp(`^${source}$`, 'u');
  return { pattern, test: (name) => regex.test(name) };
}

function escapeRegExp(text: string): string {
  // Only syntax characters: in unicode mode (`u`), escaping anything else (e.g. `-`) is a SyntaxError.
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** What the policy says of one tool. */
export type PolicyDecision =
  | { allowed: true; confirm: boolean; pattern?: string }
  | { allowed: false; reason: 'denied' | 'not-allowed'; pattern?: string };

export class ToolPolicy {
  private readonly allow: Glob[];
  private readonly deny: Glob[];
  private readonly confirm: Glob[];
  /** The timeout of a confirmation, in ms. */
  readonly confirmTimeoutMs: number | undefined;

  /** @throws TypeError naming a pattern that is not a non-empty string */
  constructor(
    private readonly server: string,
    config: ToolPolicyConfig = {},
  ) {
    this.allow = (config.allow ?? []).map(compileGlob);
    this.deny = (config.deny ?? []).map(compileGlob);
    this.confirm = (config.confirm ?? []).map(compileGlob);
    if (config.confirmTimeoutMs !== undefined && !(config.confirmTimeoutMs > 0)) {
      throw new TypeError(`tools.confirmTimeoutMs must be a positive number (got ${String(config.confirmTimeoutMs)})`);
    }
    this.confirmTimeoutMs = config.confirmTimeoutMs;
  }

  /** True when the policy restricts nothing (the hot path skips it). */
  get empty(): boolean {
    return this.allow.length === 0 && this.deny.length === 0 && this.confirm.length === 0;
  }

  decide(tool: string): PolicyDecision {
    const denied = this.deny.find((g) => g.test(tool));
    if (denied) return { allowed: false, reason: 'denied', pattern: denied.pattern };
    if (this.allow.length > 0 && !this.allow.some((g) => g.test(tool))) return { allowed: false, reason: 'not-allowed' };
    const confirm = this.confirm.find((g) => g.test(tool));
    return confirm ? { allowed: true, confirm: true, pattern: confirm.pattern } : { allowed: true, confirm: false };
  }

  /** Whether `tools/list` shows the tool. */
  visible(tool: string): boolean {
    return this.decide(tool).allowed;
  }

  /** The list without the tools the policy hides (the same array when nothing is hidden). */
  filter<T extends { name: string }>(tools: T[]): T[] {
    if (this.allow.length === 0 && this.deny.length === 0) return tools;
    return tools.filter((t) => this.visible(t.name));
  }

  /** Throws ToolDeniedError when the tool may not be called; returns whether it needs confirmation. */
  check(tool: string): { confirm: boolean; pattern?: string } {
    const decision = this.decide(tool);
    if (!decision.allowed) {
      const why = decision.reason === 'denied' ? `denied by the pattern "${decision.pattern}"` : 'not in the allow list';
      throw new ToolDeniedError(`Tool "${tool}" on server "${this.server}" is ${why}`, {
        server: this.server,
        tool,
        reason: decision.reason,
        ...(decision.pattern !== undefined ? { pattern: decision.pattern } : {}),
      });
    }
    return decision.pattern !== undefined ? { confirm: decision.confirm, pattern: decision.pattern } : { confirm: decision.confirm };
  }
}
