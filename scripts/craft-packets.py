#!/usr/bin/env python3
"""Sends deliberately malformed packets so the tracer's parser can be tested with real traffic.

Run it inside a lab pod's network namespace (frames go out of the pod's eth0 with AF_PACKET, so the
host's cali interface sees them at tc ingress), or inside a node namespace for the VXLAN cases (plain
UDP to the peer node's port 4789, which reaches the uplink). Every packet carries IPv4 id / IPv6 flow
label --tag so a test can find it among the tracer's events. Prints one JSON line per packet sent.

Examples:
  ip netns exec ct-cali11299111064 python3 scripts/craft-packets.py --src 10.233.101.222 --dst 10.233.101.224 --tag 4242
  ip netns exec ct-node2 python3 scripts/craft-packets.py --kind bogus-vxlan --dst 172.27.71.11 --tag 4243
"""
import argparse
import json
import socket
import struct
import sys

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_header(src, dst, proto, payload_len, ip_id, ihl=5, flags_frag=0, total_len=None, ttl=64):
    tl = total_len if total_len is not None else ihl * 4 + payload_len
    hdr = struct.pack("!BBHHHBBH4s4s", (4 << 4) | (ihl & 0xF), 0, tl, ip_id, flags_frag, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    opts = b"\x01" * max(0, ihl * 4 - 20)  # NOP options pad a long-but-valid IHL
    hdr = hdr + opts
    csum = checksum(hdr[:20] + opts) if ihl >= 5 else 0
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:]


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp_full(sport, dport):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 64240, 0, 0)


def ipv4_frames(src, dst, tag):
    """(kind, l3 bytes) for IPv4 cases."""
    out = []
    # IPv4 header cut after 12 bytes: not even the addresses are there.
    full = ipv4_header(src, dst, 17, 8, tag)
    out.append(("truncated-ip", full[:12]))
    # Valid IPv4 header that promises TCP, but only 8 of the 20 TCP header bytes follow.
    t = tcp_full(40001, 8080)[:8]
    out.append(("truncated-tcp", ipv4_header(src, dst, 6, 20, tag, total_len=20 + 8) + t))
    # IHL 3 (12 bytes): below the minimum of 5.
    h = bytearray(ipv4_header(src, dst, 17, 8, tag))
    h[0] = (4 << 4) | 3
    out.append(("bad-ihl-short", bytes(h) + udp(40002, 9000, b"")))
    # IHL 15 (60 bytes) but the packet ends after 28 bytes.
    h = bytearray(ipv4_header(src, dst, 17, 8, tag))
    h[0] = (4 << 4) | 15
    out.append(("bad-ihl-long", bytes(h) + udp(40003, 9000, b"")))
    # A UDP datagram in two fragments: the second has no L4 header.
    data = udp(40004, 9000, b"A" * 24)
    first, rest = data[:16], data[16:]
    out.append(("fragment-first", ipv4_header(src, dst, 17, len(first), tag, flags_frag=0x2000) + first))
    out.append(("fragment-second", ipv4_header(src, dst, 17, len(rest), tag, flags_frag=16 // 8) + rest))
    return out


def ipv6_frames(src6, dst6, tag, chain):
    """IPv6 with `chain` destination-options headers before UDP: longer than any sane parser bound."""
    payload = udp(40005, 9000, b"B" * 8)
    nxt = 17
    exts = b""
    for _ in range(chain):
        exts = struct.pack("!BB6s", nxt, 0, b"\x01\x04\0\0\0\0") + exts  # next, len 0 (8 bytes), PadN
        nxt = 60
    body = exts + payload
    hdr = struct.pack("!IHBB16s16s", (6 << 28) | (tag & 0xFFFFF), len(body), nxt, 64,
                      socket.inet_pton(socket.AF_INET6, src6), socket.inet_pton(socket.AF_INET6, dst6))
    frames = [("ipv6-ext-chain", hdr + body)]
    # A fragment header first, then UDP: an IPv6 fragment.
    frag = struct.pack("!BBHI", 17, 0, 0x0001, tag)  # offset 0, M=1
    body = frag + payload
    hdr = struct.pack("!IHBB16s16s", (6 << 28) | (tag & 0xFFFFF), len(body), 44, 64,
                      socket.inet_pton(socket.AF_INET6, src6), socket.inet_pton(socket.AF_INET6, dst6))
    frames.append(("ipv6-fragment", hdr + body))
    return frames


def send_raw(iface, dst_mac, items, ethertype_for):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src_mac = open(f"/sys/class/net/{iface}/address").read().strip()
    eth_src = bytes.fromhex(src_mac.replace(":", ""))
    eth_dst = bytes.fromhex(dst_mac.replace(":", ""))
    for kind, l3 in items:
        frame = eth_dst + eth_src + struct.pack("!H", ethertype_for(kind)) + l3
        # No padding to the 60-byte Ethernet minimum: a veth carries short frames as they are, so the
        # tracer sees exactly the truncated bytes.
        s.send(frame)
        print(json.dumps({"kind": kind, "bytes": len(l3)}), flush=True)
    s.close()


def send_bogus_vxlan(dst, tag, only=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cases = [
        ("vxlan-short", b"\x08\x00\x00"),  # fewer than the 8 bytes of a VXLAN header
        ("vxlan-no-i-flag", struct.pack("!II", 0, 4096 << 8) + b"\xee" * 14),  # I flag clear
        ("vxlan-truncated-inner", struct.pack("!II", 0x08000000, 4096 << 8) + b"\xee" * 10),  # inner Ethernet cut
        ("vxlan-inner-garbage", struct.pack("!II", 0x08000000, 4096 << 8) + b"\xee" * 12 + b"\x08\x00"
         + b"\x4f" + b"\0" * 11),  # inner IPv4 with IHL 15 and no room for it
    ]
    # A fixed source port carries the tag, so the test can find these on the uplink.
    s.bind(("", 0 if tag == 0 else 40000 + (tag % 20000)))
    for kind, payload in cases:
        if only and kind != only:
            continue
        s.sendto(payload, (dst, 4789))
        print(json.dumps({"kind": kind, "bytes": len(payload)}), flush=True)
    s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", default="all",
                   help="all | ipv4 | ipv6 | bogus-vxlan | one case: truncated-ip truncated-tcp bad-ihl-short "
                        "bad-ihl-long fragment-first fragment-second ipv6-ext-chain ipv6-fragment vxlan-short "
                        "vxlan-no-i-flag vxlan-truncated-inner vxlan-inner-garbage")
    p.add_argument("--iface", default="eth0")
    p.add_argument("--dst-mac", default="ee:ee:ee:ee:ee:ee", help="Calico's host-side veth MAC")
    p.add_argument("--src", default="10.233.101.222")
    p.add_argument("--dst", default="10.233.101.224")
    p.add_argument("--src6", default="fd00:10:233::222")
    p.add_argument("--dst6", default="fd00:10:233::224")
    p.add_argument("--tag", type=int, default=4242, help="IPv4 id / IPv6 flow label / VXLAN source port hint")
    p.add_argument("--chain", type=int, default=12, help="IPv6 extension headers in the chain")
    p.add_argument("--repeat", type=int, default=1, help="send the whole selection this many times")
    a = p.parse_args()
    if a.kind == "bogus-vxlan" or a.kind.startswith("vxlan-"):
        for _ in range(a.repeat):
            send_bogus_vxlan(a.dst, a.tag, None if a.kind == "bogus-vxlan" else a.kind)
        return 0
    items = []
    if a.kind in ("all", "ipv4") or not a.kind.startswith("ipv6"):
        items += ipv4_frames(a.src, a.dst, a.tag)
    if a.kind in ("all", "ipv6") or a.kind.startswith("ipv6"):
        items += ipv6_frames(a.src6, a.dst6, a.tag, a.chain)
    if a.kind not in ("all", "ipv4", "ipv6"):
        items = [it for it in items if it[0] == a.kind]
    if not items:
        print(f"unknown --kind {a.kind}", file=sys.stderr)
        return 2
    send_raw(a.iface, a.dst_mac, items * a.repeat, lambda k: ETH_P_IPV6 if k.startswith("ipv6") else ETH_P_IP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
