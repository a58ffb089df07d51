/**
 * TLS settings of a remote MCP server: an extra CA to trust, a client certificate, and the typed
 * error for a connection whose certificate Node would not accept. Verification is never switched
 * off: there is deliberately no `rejectUnauthorized: false` here — a server with a private CA is
 * trusted by naming that CA (`ca`), never by trusting everything.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { TlsError, type TlsData } from '../core/errors.js';

/** The `tls` section of a remote server's config (paths are read when the connection is made). */
export interface RemoteTlsConfig {
  /**
   * PEM file(s) of CA certificates to trust besides Node's built-in roots (e.g. a company's
   * private CA). @default none: only the built-in roots
   */
  ca?: string | string[];
  /** PEM file of the client certificate to present (mutual TLS); needs `key`. */
  cert?: string;
  /** PEM file of the client certificate's private key. */
  key?: string;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /** The host name to verify the server's certificate against. @default the URL's host */
  servername?: string;
}

/** What node:https needs: file contents, read once per connection attempt (so renewed files are picked up on reconnect). */
export interface TlsOptions {
  ca?: string[];
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  servername?: string;
}

/** Reads the files a TLS config names; a file that cannot be read is a TypeError naming it. */
export function loadTlsOptions(config: RemoteTlsConfig | undefined): TlsOptions | undefined {
  if (!config) return undefined;
  if ((config.cert === undefined) !== (config.key === undefined)) throw new TypeError('tls.cert and tls.key go together: a client certificate needs its private key');
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      // The cause keeps its code (ENOENT, EACCES): the ProcessManager fails at once on those instead of retrying.
      throw new TypeError(`Cannot read ${what} ${path}: ${(error as Error).message}`, { cause: error });
    }
  };
  const options: TlsOptions = {};
  if (config.ca !== undefined) {
    // Extra CAs add to Node's roots: naming a private CA must not stop public servers from working.
    const files = Array.isArray(config.ca) ? config.ca : [config.ca];
    options.ca = [...rootCertificates, ...files.map((f) => read(f, 'tls.ca').toString('utf8'))];
  }
  if (config.cert !== undefined) options.cert = read(config.cert, 'tls.cert');
  if (config.key !== undefined) options.key = read(config.key, 'tls.key');
  if (config.passphrase !== undefined) options.passphrase = config.passphrase;
  if (config.servername !== undefined) options.servername = config.servername;
  return options;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** The TlsError for a Node/OpenSSL error, or undefined when the error is not about TLS. */
export function tlsErrorOf(error: unknown, url: string): TlsError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  let reason: TlsData['reason'];
  let hint: string;
  if (UNTRUSTED.has(code)) {
    reason = 'untrusted';
    hint = 'the server certificate is not signed by a trusted CA; name its CA in the server\'s "tls": { "ca": "…" }';
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    reason = 'hostname';
    hint = 'the server certificate is for another host name';
  } else if (EXPIRED.has(code)) {
    reason = 'expired';
    hint = 'the server certificate has expired or is not yet valid';
  } else if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO') {
    reason = 'handshake';
    hint = /CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/i.test(code)
      ? 'the server refused the TLS handshake; it may require a client certificate ("tls": { "cert", "key" }) it trusts'
      : 'the TLS handshake failed';
  } else return undefined;
  const message = `TLS connection to ${url} failed: ${hint} (${code}: ${(error as Error).message})`;
  return new TlsError(message, { url, reason, osCode: code }, { cause: error });
}
