/**
 * What the connected gateway lets a page do (`hello.offers`): a panel hides or disables what its
 * allow-list refuses instead of letting the person meet "Method not found". A gateway that sends no
 * offers (older than the field) is taken to allow everything, as it did.
 */
import type { GatewayOffers } from '../../../src/core/gateway-protocol.js';

export type { GatewayOffers };

/** The gateway forwards the MCP request `method`. */
export function offersMethod(offers: GatewayOffers | null | undefined, method: string): boolean {
  return !offers || offers.methods.includes(method);
}

/** The gateway lets a page start, stop and restart servers. */
export function offersHostControl(offers: GatewayOffers | null | undefined): boolean {
  return !offers || offers.hostControl;
}

/** Why a control is unavailable, for its title; null when it is available. */
export function refusal(offers: GatewayOffers | null | undefined, method: string): string | null {
  return offersMethod(offers, method) ? null : `This gateway does not forward ${method} (not on its allow-list)`;
}
