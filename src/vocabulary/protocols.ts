// IP protocol names: the one table. What the tool prints (protocolName) is always a name every filter
// accepts (protocolNumber), in the kernel filter (--proto), the API's filters, the UI's '/' and explain.

interface ProtocolEntry {
  number: number;
  /** The name printed. */
  name: string;
  /** Other spellings accepted on input (iproute2's, IANA's). */
  aliases: readonly string[];
}

// In the order people reach for them: the choices in error messages read the same way.
export const PROTOCOLS: readonly ProtocolEntry[] = [
  { number: 6, name: 'tcp', aliases: [] },
  { number: 17, name: 'udp', aliases: [] },
  { number: 1, name: 'icmp', aliases: [] },
  { number: 58, name: 'icmpv6', aliases: ['icmp6', 'ipv6-icmp'] },
  { number: 132, name: 'sctp', aliases: [] },
  { number: 47, name: 'gre', aliases: [] },
  { number: 50, name: 'esp', aliases: [] },
];

const BY_NUMBER = new Map(PROTOCOLS.map((p) => [p.number, p.name]));
const BY_NAME = new Map(PROTOCOLS.flatMap((p) => [p.name, ...p.aliases].map((n) => [n, p.number] as const)));

/** For error messages: what a protocol argument may be. */
export const PROTOCOL_CHOICES = `${PROTOCOLS.map((p) => p.name).join(', ')} or a number 0-255`;

/** The printed name of an IP protocol number ('icmpv6'), or the number itself as text. */
export function protocolName(proto: number): string {
  return BY_NUMBER.get(proto) ?? String(proto);
}

/** A protocol name (any case, any alias) → its number; undefined for anything else (numbers included). */
export function protocolByName(text: string): number | undefined {
  return BY_NAME.get(text.trim().toLowerCase());
}

/** A name (any case, any alias) or a number 0-255 → the protocol number; undefined when it is neither. */
export function protocolNumber(text: string): number | undefined {
  const t = text.trim();
  return protocolByName(t) ?? (/^\d+$/.test(t) && Number(t) <= 255 ? Number(t) : undefined);
}

/** Protocols whose packets carry ports (so a 5-tuple has them). */
export function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17 || proto === 132;
}
