/**
 * Checks for options objects: every constructor that takes numbers or names validates them once and
 * throws a `TypeError` naming the option and the bad value, instead of misbehaving later — a
 * `maxConcurrent: 0` would stall every request, a `NaN` timeout would never fire, and a delay over
 * 2^31-1 ms fires after 1 ms in both Node and browsers. Absent (`undefined`) options are skipped:
 * they take their defaults (`DEFAULTS`). Pure code: safe in browsers.
 */
/** Longest delay `setTimeout` / `setInterval` honour; a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Throws a TypeError when `value` (the option `name`) is not acceptable; `undefined` is always accepted. */
export type OptionCheck = (name: string, value: unknown) => void;

/** How a value reads in an error message: `-1`, `NaN`, `"10"` (a string), `null`, `object`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value === 'boolean' || typeof value === 'undefined') return String(value);
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function fail(name: string, expected: string, value: unknown): never {
  throw new TypeError(`${name} must be ${expected}, got ${describeValue(value)}`);
}

/** An integer ≥ 1 (`Infinity` too with `infinity`: no limit). For counts where 0 would stall. */
export function positiveInt(options: { infinity?: boolean } = {}): OptionCheck {
  const expected = options.infinity ? 'an integer ≥ 1 or Infinity' : 'an integer ≥ 1';
  return (name, v) => {
    if (v === undefined || (options.infinity && v === Infinity)) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(name, expected, v);
  };
}

/** An integer ≥ 0 (`Infinity` too with `infinity`). For counts where 0 means "none". */
export function nonNegativeInt(options: { infinity?: boolean } = {}): OptionCheck {
  const expected = options.infinity ? 'an integer ≥ 0 or Infinity' : 'an integer ≥ 0';
  return (name, v) => {
    if (v === undefined || (options.infinity && v === Infinity)) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(name, expected, v);
  };
}

/**
 * A duration in ms > 0. With `infinity`, `Infinity` (never) too — only where the owner schedules it
 * without handing it to `setTimeout` as is; otherwise at most `MAX_TIMER_MS`.
 */
export function positiveMs(options: { infinity?: boolean } = {}): OptionCheck {
  const expected = options.infinity ? 'a number of ms > 0 or Infinity' : `a number of ms > 0 and ≤ ${MAX_TIMER_MS}`;
  return (name, v) => {
    if (v === undefined) return;
    if (typeof v !== 'number' || !(v > 0)) fail(name, expected, v);
    if (v > MAX_TIMER_MS && !options.infinity) fail(name, expected, v);
  };
}

/**
 * A duration in ms ≥ 0, at most `MAX_TIMER_MS`. The owner documents what 0 means (off, no delay,
 * no throttling).
 */
export function nonNegativeMs(): OptionCheck {
  const expected = `a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}`;
  return (name, v) => {
    if (v === undefined) return;
    if (typeof v !== 'number' || !(v >= 0) || v > MAX_TIMER_MS) fail(name, expected, v);
  };
}

/** A finite number in `[min, max]` (e.g. a share, a percentage, a size). */
export function numberIn(min: number, max: number): OptionCheck {
  const expected = max === Infinity ? `a finite number ≥ ${min}` : `a number from ${min} to ${max}`;
  return (name, v) => {
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(name, expected, v);
  };
}

/** A number > `min` (finite), e.g. a size in MB where 0 would reject everything. */
export function numberAbove(min: number): OptionCheck {
  return (name, v) => {
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || !(v > min)) fail(name, `a finite number > ${min}`, v);
  };
}

/** One of a fixed set of names. */
export function oneOf(values: readonly string[]): OptionCheck {
  const expected = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return (name, v) => {
    if (v === undefined) return;
    if (typeof v !== 'string' || !values.includes(v)) fail(name, expected, v);
  };
}

/** `true` or `false` (a string `"false"` would read as on). */
export function boolean(): OptionCheck {
  return (name, v) => {
    if (v !== undefined && typeof v !== 'boolean') fail(name, 'true or false', v);
  };
}

/** A function (an injected clock, randomness or factory). */
export function func(): OptionCheck {
  return (name, v) => {
    if (v !== undefined && typeof v !== 'function') fail(name, 'a function', v);
  };
}

/** An array of strings. */
export function stringArray(): OptionCheck {
  return (name, v) => {
    if (v === undefined) return;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) fail(name, 'an array of strings', v);
  };
}

/** Which check applies to which option of `T`; options left out are not checked here. */
export type OptionSpec<T> = { readonly [K in keyof T]?: OptionCheck };

/**
 * Runs `spec` over `options`; `prefix` names the section in messages (`queue.` → "queue.maxConcurrent
 * must be …"). Not an object (a number, an array) is refused too.
 */
export function checkOptions<T extends object>(options: T | undefined, spec: OptionSpec<T>, prefix = ''): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    fail(prefix ? prefix.replace(/\.$/, '') : 'options', 'an object', options);
  }
  for (const key of Object.keys(spec) as Array<keyof T & string>) {
    spec[key]!(prefix + key, options[key]);
  }
}

/** The checks of `IpcManagerOptions` (see its TSDoc for what each value means). */
export const IPC_MANAGER_OPTIONS = {
  maxConcurrent: positiveInt({ infinity: true }),
  maxQueueSize: nonNegativeInt({ infinity: true }),
  // The deadlines timer caps long delays itself, so Infinity (no timeout) is fine here.
  timeoutMs: positiveMs({ infinity: true }),
  hardTimeoutMs: positiveMs({ infinity: true }),
  maxRetries: nonNegativeInt(),
  retryDelayMs: nonNegativeMs(),
  retryMaxDelayMs: nonNegativeMs(),
  priorityQueue: boolean(),
  bypassMethods: stringArray(),
  maxPendingWrites: positiveInt({ infinity: true }),
  holdQueueOnDisconnect: boolean(),
  metricsIntervalMs: nonNegativeMs(),
  now: func(),
  random: func(),
} as const;
