import dns, { type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

// Every request the registry makes (manifest and artifacts) goes through these guards: a manifest
// from a stranger must not turn `pull` into a way to reach the machine's link-local services
// (the cloud metadata endpoint above all) or to read local files.

/** Redirects followed per request; the next one is refused. */
export const MAX_REDIRECTS = 5;

/**
 * Addresses no registry request may connect to: IPv4 link-local (169.254.0.0/16, where the cloud
 * metadata services live), IPv6 link-local (fe80::/10), the same IPv4 range written as IPv6
 * (IPv4-mapped ::ffff:a.b.c.d is matched by BlockList itself; IPv4-compatible ::a.b.c.d and the
 * NAT64 prefix 64:ff9b::/96 are listed), and the metadata addresses outside those ranges
 * (AWS fd00:ec2::254, Alibaba 100.100.100.200). Loopback and private addresses stay allowed.
 */
const REFUSED_ADDRESSES = (() => {
  const list = new BlockList();
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addSubnet('fe80::', 10, 'ipv6');
  list.addSubnet('::a9fe:0', 112, 'ipv6');
  list.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6');
  list.addAddress('fd00:ec2::254', 'ipv6');
  list.addAddress('100.100.100.200', 'ipv4');
  return list;
})();

/** Thrown (inside got or the resolver) when a request is refused; its code tells the caller not to retry. */
export class RefusedRequest extends Error {
  readonly code = 'ERR_DOCONV_REFUSED';
}

export const REFUSED_CODE = 'ERR_DOCONV_REFUSED';

/** True for an address (IPv4 or IPv6, brackets allowed) in the refused ranges. */
export function isRefusedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 0) return false;
  return REFUSED_ADDRESSES.check(bare, family === 6 ? 'ipv6' : 'ipv4');
}

const refusedAddressReason = (host: string, address: string): string =>
  `refused to connect to ${host === address ? address : `${host} (${address})`}: a link-local or cloud-metadata address`;

/**
 * Why a request to `url` is refused before it is made (undefined when it may go): the scheme must
 * be `scheme` (the one the request started with: no http <-> https switch, no file:), and a literal
 * address must not be a refused one (literal addresses never reach the resolver).
 */
export function requestRefusal(url: URL, scheme: string): string | undefined {
  if (url.protocol !== scheme) return `refused a redirect from ${scheme} to ${url.protocol} (redirects keep their scheme)`;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 && isRefusedAddress(host)) return refusedAddressReason(url.hostname, host);
  return undefined;
}

/** Options a caller (a test) may give: the resolver the address guard wraps. */
export interface NetworkOptions {
  /** Resolves host names (default dns.lookup); its answers are checked before any socket connects. */
  lookup?: LookupFunction;
}

/**
 * A resolver that refuses a host name when any address it resolves to is refused, so the check is on
 * the address the socket actually connects to (no DNS-rebinding window between a check and the connect).
 */
export function guardedLookup(base: LookupFunction = dns.lookup as unknown as LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    base(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list: LookupAddress[] = Array.isArray(addresses) ? addresses : [{ address: addresses, family: isIP(addresses) }];
      const refused = list.find((a) => isRefusedAddress(a.address));
      if (refused !== undefined) return callback(new RefusedRequest(refusedAddressReason(hostname, refused.address)), '', 0);
      const first = list[0];
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      if (options.all) callback(null, list);
      else callback(null, first.address, first.family);
    });
  };
}

/** The redirect target a 3xx response names, resolved against the URL that answered. */
export function redirectTarget(location: string | undefined, from: string): URL | undefined {
  if (location === undefined) return undefined;
  try {
    return new URL(Buffer.from(location, 'binary').toString(), from);
  } catch {
    return undefined;
  }
}

/**
 * got options that enforce the guards on every hop: at most MAX_REDIRECTS redirects, each checked
 * before it is followed (a refused one is not followed; the caller sees the 3xx and says why), the
 * resolver checked at connect time, and a last check of every request's URL just before it is sent.
 */
export function guardedGotOptions(firstUrl: string, network: NetworkOptions = {}) {
  const scheme = new URL(firstUrl).protocol;
  return {
    followRedirect: (response: { headers: Record<string, string | string[] | undefined>; url: string }) => {
      const location = response.headers.location;
      const target = redirectTarget(typeof location === 'string' ? location : undefined, response.url);
      return target !== undefined && requestRefusal(target, scheme) === undefined;
    },
    maxRedirects: MAX_REDIRECTS,
    dnsLookup: guardedLookup(network.lookup),
    hooks: {
      beforeRequest: [
        (options: { url?: URL | string | undefined }) => {
          const url = options.url === undefined ? undefined : new URL(String(options.url));
          const refusal = url === undefined ? 'no URL' : requestRefusal(url, scheme);
          if (refusal !== undefined) throw new RefusedRequest(refusal);
        },
      ],
    },
  };
}

/** Why the response to a request was a redirect that was not followed (a refused target). */
export function unfollowedRedirectReason(status: number, location: string | string[] | undefined, from: string, firstUrl: string): string | undefined {
  if (status < 300 || status >= 400 || status === 304) return undefined;
  const target = redirectTarget(typeof location === 'string' ? location : undefined, from);
  if (target === undefined) return `HTTP ${status} without a usable Location`;
  return requestRefusal(target, new URL(firstUrl).protocol) ?? `HTTP ${status} redirect to ${target.href} was not followed`;
}

/** The reason for a got error, refusals and the redirect limit said plainly; `refused` tells the caller not to retry. */
export function describeRequestError(err: Error & { code?: string }): { reason: string; refused: boolean } {
  if (err.code === REFUSED_CODE) return { reason: err.message, refused: true };
  if (err.code === 'ERR_TOO_MANY_REDIRECTS') return { reason: `refused a redirect: more than ${MAX_REDIRECTS} redirects`, refused: true };
  if (err.code === 'ERR_UNSUPPORTED_PROTOCOL') return { reason: `refused: ${err.message}`, refused: true };
  return { reason: `${err.code ?? err.name}: ${err.message}`, refused: false };
}
