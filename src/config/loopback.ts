import { BlockList, isIPv4, isIPv6 } from "node:net";

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/**
 * Whether an address to listen on is reachable from this host only: `localhost`, 127.0.0.0/8,
 * `::1`, or an IPv4-mapped loopback. Any other address, a wildcard or a name, may be reachable
 * from the network.
 */
export function isLoopback(address: string): boolean {
  if (address.toLowerCase() === "localhost") return true;
  if (isIPv4(address)) return LOOPBACK.check(address, "ipv4");
  if (isIPv6(address)) return LOOPBACK.check(address, "ipv6");
  return false;
}
