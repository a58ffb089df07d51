/**
 * RFC 6570 URI templates, for resource templates: the variables a form asks for, and the URI they
 * expand to (levels 1–3 with string values: `{var}`, `{+var}`, `{#var}`, `{.var}`, `{/var}`,
 * `{;var}`, `{?a,b}`, `{&a}`; prefix `:n` and explode `*` modifiers are accepted and applied to strings).
 */

const EXPRESSION = /\{([^{}]*)\}/g;
const OPERATORS = '+#./;?&';

interface VarSpec {
  name: string;
  prefix?: number;
}

function parse(expression: string): { op: string; vars: VarSpec[] } {
  const op = expression.length > 0 && OPERATORS.includes(expression[0] as string) ? (expression[0] as string) : '';
  const vars = (op ? expression.slice(1) : expression)
    .split(',')
    .map((raw) => raw.trim())
    .filter((raw) => raw !== '')
    .map((raw) => {
      const name = raw.replace(/\*$/, '');
      const colon = name.indexOf(':');
      if (colon < 0) return { name };
      const prefix = Number(name.slice(colon + 1));
      return Number.isInteger(prefix) && prefix > 0 ? { name: name.slice(0, colon), prefix } : { name: name.slice(0, colon) };
    });
  return { op, vars };
}

/** The template's variable names, in order of first appearance. */
export function templateVariables(template: string): string[] {
  const names: string[] = [];
  for (const match of template.matchAll(EXPRESSION)) {
    for (const v of parse(match[1] ?? '').vars) if (!names.includes(v.name)) names.push(v.name);
  }
  return names;
}

// `+` and `#` keep reserved characters (they expand paths); the others encode everything but unreserved.
function encode(value: string, allowReserved: boolean): string {
  return allowReserved ? encodeURI(value).replace(/%25([0-9A-Fa-f]{2})/g, '%$1') : encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Expands `template` with `values`; empty or missing values are left out, as RFC 6570 says for undefined. */
export function expandTemplate(template: string, values: Record<string, string>): string {
  return template.replace(EXPRESSION, (_, expression: string) => {
    const { op, vars } = parse(expression);
    const reserved = op === '+' || op === '#';
    const parts: string[] = [];
    for (const v of vars) {
      const raw = values[v.name];
      if (raw === undefined || raw === '') continue;
      const value = encode(v.prefix ? raw.slice(0, v.prefix) : raw, reserved);
      parts.push(op === ';' || op === '?' || op === '&' ? `${v.name}=${value}` : value);
    }
    if (parts.length === 0) return '';
    switch (op) {
      case '':
      case '+':
        return parts.join(',');
      case '#':
        return `#${parts.join(',')}`;
      case '.':
        return `.${parts.join('.')}`;
      case '/':
        return `/${parts.join('/')}`;
      case ';':
        return `;${parts.join(';')}`;
      case '?':
        return `?${parts.join('&')}`;
      default:
        return `&${parts.join('&')}`;
    }
  });
}
