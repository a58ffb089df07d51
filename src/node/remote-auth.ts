/**
 * Credentials for remote MCP servers: a static bearer token (typically `${env:NAME}` in the
 * config), or OAuth 2.1 through the MCP SDK's `OAuthClientProvider` with the tokens kept in a file
 * only its owner can read (0600), so a restarted host does not have to authorise again.
 *
 * Two OAuth grants work without a person at a browser, which a supervising host needs:
 * - `client_credentials` (machine to machine): the SDK discovers the authorisation server from the
 *   MCP server's protected-resource metadata and asks for a token; on a 401 it asks again.
 * - `refresh_token`: the token file was seeded by an earlier interactive login (or another tool);
 *   on a 401 the SDK refreshes the access token and we store the new pair.
 * A flow that needs a person (no refresh token, or the refresh refused) fails with an
 * UnauthorizedError whose reason is `interactive-login-required` and whose message names the URL.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuthProvider, OAuthClientMetadata, OAuthClientProvider, OAuthDiscoveryState, StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client';

/** The `auth` section of a remote server's config. */
export type RemoteAuthConfig = BearerAuthConfig | OAuthConfig;

export interface BearerAuthConfig {
  type: 'bearer';
  /** The token, sent as `Authorization: Bearer …`; write `"${env:NAME}"` to take it from the host's environment. */
  token: string;
}

export interface OAuthConfig {
  type: 'oauth';
  /**
   * `client_credentials` (machine to machine) or `refresh_token` (a token file seeded by an earlier
   * login, refreshed on 401). @default 'client_credentials'
   */
  grant?: 'client_credentials' | 'refresh_token';
  /** Where the tokens (and a dynamically registered client) are kept, with 0600 permissions. Required. */
  tokenFile: string;
  /** The registered client; without one the SDK registers dynamically where the server allows it. */
  clientId?: string;
  clientSecret?: string;
  /** Scopes to ask for (space-separated). @default what the server's metadata says */
  scope?: string;
  /** The redirect URI registered for the client (refresh_token grant). @default 'http://127.0.0.1/oauth/callback' */
  redirectUrl?: string;
}

/** What the token file holds. */
interface TokenFileContents {
  tokens?: StoredOAuthTokens;
  clientInformation?: StoredOAuthClientInformation;
  codeVerifier?: string;
}

/** Thrown by `redirectToAuthorization`: the flow needs a person at a browser. */
export class InteractiveLoginRequired extends Error {
  readonly authorizationUrl: string;
  constructor(url: URL) {
    super(`OAuth needs an interactive login: open ${url.href} and store the resulting tokens in the token file`);
    this.name = 'InteractiveLoginRequired';
    this.authorizationUrl = url.href;
  }
}

/** The provider the SDK transport takes for a server's `auth` config. */
export function authProviderFor(config: RemoteAuthConfig | undefined): AuthProvider | OAuthClientProvider | undefined {
  if (!config) return undefined;
  if (config.type === 'bearer') {
    const token = config.token;
    return { token: async () => token };
  }
  return new FileOAuthProvider(config);
}

/** An OAuthClientProvider whose tokens and client registration live in a 0600 file. */
export class FileOAuthProvider implements OAuthClientProvider {
  private readonly config: OAuthConfig;
  private discovery: OAuthDiscoveryState | undefined;
  /** Present for the client_credentials grant only: its presence tells the SDK the flow is non-interactive. */
  prepareTokenRequest?: (scope?: string) => URLSearchParams;

  constructor(config: OAuthConfig) {
    this.config = config;
    if ((config.grant ?? 'client_credentials') === 'client_credentials') {
      this.prepareTokenRequest = (scope) => {
        const params = new URLSearchParams({ grant_type: 'client_credentials' });
        const s = scope ?? config.scope;
        if (s) params.set('scope', s);
        return params;
      };
    }
  }

  /** Undefined for client_credentials: the SDK then fetches tokens without a redirect. */
  get redirectUrl(): string | undefined {
    return this.interactive ? (this.config.redirectUrl ?? 'http://127.0.0.1/oauth/callback') : undefined;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'mcp-ipc',
      redirect_uris: this.interactive ? [this.redirectUrl!] : [],
      grant_types: this.interactive ? ['authorization_code', 'refresh_token'] : ['client_credentials'],
      token_endpoint_auth_method: this.config.clientSecret ? 'client_secret_basic' : 'none',
      ...(this.config.scope ? { scope: this.config.scope } : {}),
    } as OAuthClientMetadata;
  }

  clientInformation(): StoredOAuthClientInformation | undefined {
    const saved = this.read().clientInformation;
    if (this.config.clientId) {
      // The configured client wins; the issuer the SDK stamped on it is kept.
      return { ...saved, client_id: this.config.clientId, ...(this.config.clientSecret ? { client_secret: this.config.clientSecret } : {}) } as StoredOAuthClientInformation;
    }
    return saved;
  }

  saveClientInformation(info: StoredOAuthClientInformation): void {
    this.write({ ...this.read(), clientInformation: info });
  }

  tokens(): StoredOAuthTokens | undefined {
    return this.read().tokens;
  }

  saveTokens(tokens: StoredOAuthTokens): void {
    this.write({ ...this.read(), tokens });
  }

  redirectToAuthorization(url: URL): never {
    throw new InteractiveLoginRequired(url);
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.write({ ...this.read(), codeVerifier });
  }

  codeVerifier(): string {
    const verifier = this.read().codeVerifier;
    if (!verifier) throw new Error('No OAuth code verifier saved');
    return verifier;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovery;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovery = state;
  }

  private get interactive(): boolean {
    return this.config.grant === 'refresh_token';
  }

  private read(): TokenFileContents {
    let text: string;
    try {
      text = readFileSync(this.config.tokenFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      return typeof parsed === 'object' && parsed !== null ? (parsed as TokenFileContents) : {};
    } catch {
      throw new Error(`OAuth token file ${this.config.tokenFile} is not valid JSON`);
    }
  }

  /** Atomic (temp file + rename) and private: created 0600, and an existing file is narrowed to 0600. */
  private write(contents: TokenFileContents): void {
    const file = this.config.tokenFile;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temp, 0o600); // the umask cannot widen it, but a leftover temp file may have other bits
    renameSync(temp, file);
  }
}
