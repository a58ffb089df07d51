/** `${env:NAME}` references and `inheritEnv` in a config file. */
import { describe, expect, it } from 'vitest';
import { ConfigError, expandEnv, parseConfig } from '../../src/node/config.js';

const host = { API_KEY: 'k-123', DATA: '/data', EMPTY: '' };

describe('${env:NAME} in config values', () => {
  it('expands references in env values, args, command and cwd', () => {
    const config = parseConfig(
      {
        mcpServers: {
          s: {
            command: '${env:DATA}/bin/server',
            args: ['--root', '${env:DATA}/docs', 'plain'],
            cwd: '${env:DATA}',
            env: { KEY: '${env:API_KEY}', MIXED: 'a-${env:API_KEY}-${env:EMPTY}-b', LITERAL: '$${env:API_KEY}' },
            inheritEnv: true,
          },
        },
      },
      '/base',
      host,
    );
    expect(config.mcpServers.s).toEqual({
      command: '/data/bin/server',
      args: ['--root', '/data/docs', 'plain'],
      cwd: '/data',
      env: { KEY: 'k-123', MIXED: 'a-k-123--b', LITERAL: '${env:API_KEY}' },
      inheritEnv: true,
    });
  });

  it('a reference to an unset variable is a ConfigError naming the path and the variable', () => {
    const parse = (server: object) => () => parseConfig({ mcpServers: { s: { command: 'x', ...server } } }, '/base', host);
    expect(parse({ env: { TOKEN: '${env:NOT_SET}' } })).toThrow(ConfigError);
    expect(parse({ env: { TOKEN: '${env:NOT_SET}' } })).toThrow(/mcpServers\.s\.env\.TOKEN references \$\{env:NOT_SET\}, but NOT_SET is not set/);
    expect(parse({ args: ['ok', '${env:NOT_SET}'] })).toThrow(/mcpServers\.s\.args\[1\]/);
    expect(parse({ cwd: '${env:NOT_SET}' })).toThrow(/mcpServers\.s\.cwd/);
    expect(parse({ env: { X: '${env:bad name}' } })).toThrow(/not a valid variable reference/);
    expect(parse({ inheritEnv: 'yes' })).toThrow(/mcpServers\.s\.inheritEnv must be true or false/);
  });

  it('leaves text without references alone', () => {
    expect(expandEnv('$HOME ${HOME} {env:HOME} $ {env:X}', 'p', {})).toBe('$HOME ${HOME} {env:HOME} $ {env:X}');
  });
});
