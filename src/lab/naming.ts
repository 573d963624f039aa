// Names and addresses derived the way Calico derives them, so the lab's interfaces match a real node's.
import { createHash } from 'node:crypto';

function sha1Hex(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** Calico's host-side veth name: "cali" + first 11 hex chars of sha1("<namespace>.<pod>") (15 chars, IFNAMSIZ-1). */
export function calicoIfName(namespace: string, pod: string): string {
  return `cali${sha1Hex(`${namespace}.${pod}`).slice(0, 11)}`;
}

/** Calico's vxlan.calico MAC: locally administered 0x66 followed by the first 5 bytes of sha1(node name). */
export function vxlanMac(nodeName: string): string {
  const hex = sha1Hex(nodeName).slice(0, 10);
  return ['66', ...(hex.match(/../g) as string[])].join(':');
}

export function nodeNetnsName(prefix: string, node: string): string {
  return `${prefix}-${node}`;
}

export function netNetnsName(prefix: string): string {
  return `${prefix}-net`;
}

export function podNetnsName(prefix: string, ifname: string): string {
  return `${prefix}-${ifname}`;
}

/** A prefix is used in namespace names and file paths: keep it short and shell-safe. */
export function validatePrefix(prefix: string): string {
  if (!/^[a-z][a-z0-9]{0,11}$/.test(prefix)) {
    throw new Error(
      `lab prefix '${prefix}' is invalid: use 1-12 lowercase letters/digits starting with a letter (e.g. 'ct' or 'lab7')`,
    );
  }
  return prefix;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`'${ip}' is not an IPv4 address (expected a.b.c.d)`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function parseCidr(cidr: string): { base: number; len: number } {
  const [ip, lenText] = cidr.split('/');
  const len = lenText === undefined ? 32 : Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new Error(`'${cidr}' is not an IPv4 CIDR (expected a.b.c.d/len)`);
  return { base: ipToInt(ip), len };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const { base, len } = parseCidr(cidr);
  if (len === 0) return true;
  const mask = len === 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ((base & mask) >>> 0);
}
