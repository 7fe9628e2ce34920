import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { InvalidInputError } from '@rescue/domain';

// Where a webhook may go. A caller-supplied URL fetched by the server is the textbook SSRF: unless
// the operator allows it, no address inside the network (loopback, private, link-local, the cloud
// metadata address, CGNAT, multicast, reserved, and their IPv4-mapped IPv6 forms) is ever
// connected to. The check runs on the addresses DNS returns at connect time (the `lookup` hook
// below), so a name that resolves publicly when submitted and privately later is still refused;
// redirects are never followed. node:net's BlockList does the matching (no dependency needed).

const internal = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  internal.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  internal.addSubnet(net, bits, 'ipv6');

/** Whether an address is inside the network (or otherwise not a public unicast address). */
export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return internal.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return internal.check(mapped[1], 'ipv4');
  return internal.check(address, 'ipv6');
}

/** A webhook URL's host when it is an address literal (Node connects to those without a lookup). */
function literalHost(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? host : undefined;
}

/** Refuses, at submit, a URL whose host is an internal address literal or resolves to one now. */
export async function checkWebhookUrl(raw: string, allowInternal: boolean): Promise<void> {
  if (allowInternal) return;
  const url = new URL(raw);
  const literal = literalHost(url);
  const addresses = literal ? [literal] : await resolveAll(url.hostname);
  const bad = addresses.find(isInternalAddress);
  if (bad !== undefined)
    throw new InvalidInputError(
      `webhookUrl: ${url.hostname} is ${literal ? '' : `resolves to `}an internal address (${bad}); webhooks go to public addresses only unless the API sets WEBHOOK_ALLOW_PRIVATE=true`,
    );
}

function resolveAll(hostname: string): Promise<string[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true }, (err, addresses) => {
      if (err) reject(new InvalidInputError(`webhookUrl: ${hostname} does not resolve (${err.code ?? err.message})`));
      else resolve(addresses.map((a) => a.address));
    }),
  );
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http.request that fails the connection when any resolved address is internal. */
export function guardedLookup(allowInternal: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const bad = allowInternal ? undefined : addresses.find((a) => isInternalAddress(a.address));
      if (bad) return callback(Object.assign(new InvalidInputError(`${hostname} resolves to an internal address (${bad.address})`), { code: 'EINTERNALADDRESS' }), []);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** For an address-literal host, the lookup hook is never called: check it directly before connecting. */
export function literalHostIsInternal(url: URL): boolean {
  const literal = literalHost(url);
  return literal !== undefined && isInternalAddress(literal);
}
