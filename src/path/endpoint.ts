// How verdicts write an address with its port — "10.233.101.224:8080", "[fd00::1]:80", or the bare
// address for a protocol without ports — and how such a text is read back (a NAT rewrite's `to`).

const WITH_PORTS = new Set([6, 17, 132]); // TCP, UDP, SCTP

export function formatEndpoint(addr: string, port: number, proto: number): string {
  if (!WITH_PORTS.has(proto)) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export function parseEndpoint(text: string): { addr: string; port?: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  return m ? { addr: m[1], port: Number(m[2]) } : { addr: text };
}
