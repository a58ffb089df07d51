/** Where the gateway is: the dashboard is served by it, so the WebSocket lives on the same host. */
import { GATEWAY_PATH, TOKEN_PARAM } from '../../../src/core/gateway-protocol.js';

export function readToken(search: string): string | null {
  const token = new URLSearchParams(search).get(TOKEN_PARAM);
  return token && token.trim() !== '' ? token.trim() : null;
}

export function gatewayUrl(loc: { protocol: string; host: string }, token: string): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}${GATEWAY_PATH}?${TOKEN_PARAM}=${encodeURIComponent(token)}`;
}
