/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet parser and the fingerprint, included by common.bpf.h. Reads bytes only through
 * CT_LOAD(src, off, dst, len) (0 on success), which the including program defines: tc reads the skb
 * with bpf_skb_load_bytes, the kfree_skb program its linear data with bpf_probe_read_kernel. Every
 * header is loaded whole before a field of it is used, so a short packet ends as `truncated` instead
 * of a read past its end. Fields go straight into the record being built in the per-CPU scratch.
 */
#ifndef CALITRACE_PARSE_BPF_H
#define CALITRACE_PARSE_BPF_H

/* --- parser ------------------------------------------------------------------------------------ */

struct ct_l3 {
	__u32 l4off;  /* offset of the L4 header (valid when has_l4) */
	__u8 proto;   /* final IP protocol */
	__u8 has_l4;  /* 0 for non-first fragments and broken headers */
};

/* Ethernet + up to CT_MAX_VLAN tags. Returns the L3 offset, or -1. *ethertype gets the payload type. */
static __always_inline int ct_parse_eth(struct ct_src *src, struct ct_event *e, __u32 off,
					__u16 *ethertype, int outer)
{
	struct {
		__u8 dst[6];
		__u8 src[6];
		__be16 proto;
	} eth;
	struct {
		__be16 tci;
		__be16 proto;
	} vlan;
	__u16 proto;

	if (CT_LOAD(src, off, &eth, sizeof(eth))) {
		e->anomalies |= CT_ANOM_TRUNCATED;
		return -1;
	}
	off += ETH_HLEN;
	proto = bpf_ntohs(eth.proto);
#pragma unroll
	for (int i = 0; i < CT_MAX_VLAN; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if (CT_LOAD(src, off, &vlan, sizeof(vlan))) {
			e->anomalies |= CT_ANOM_TRUNCATED;
			return -1;
		}
		if (outer && i == 0)
			e->vlan = bpf_ntohs(vlan.tci) & 0x0fff;
		proto = bpf_ntohs(vlan.proto);
		off += 4;
	}
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		e->anomalies |= CT_ANOM_VLAN_LIMIT;
		return -1;
	}
	*ethertype = proto;
	return off;
}

/* IPv4 or IPv6 header (and IPv6 extension headers) at off. Returns 0 when addresses were read. */
static __always_inline int ct_parse_ip(struct ct_src *src, struct ct_scratch *s, __u32 off,
				       __u16 ethertype, struct ct_l3 *l3)
{
	struct ct_event *e = &s->ev;

	l3->has_l4 = 0;
	if (ethertype == ETH_P_IP) {
		struct {
			__u8 vihl;
			__u8 tos;
			__be16 tot_len;
			__be16 id;
			__be16 frag_off;
			__u8 ttl;
			__u8 proto;
			__be16 check;
			__u8 saddr[4];
			__u8 daddr[4];
		} ip;
		__u32 ihl;
		__u16 frag;

		if (CT_LOAD(src, off, &ip, sizeof(ip))) {
			e->anomalies |= CT_ANOM_TRUNCATED;
			return -1;
		}
		if ((ip.vihl >> 4) != 4) {
			e->anomalies |= CT_ANOM_BAD_IP_VERSION;
			return -1;
		}
		e->family = 4;
		if (!s->route_set) {
			s->route_set = 1;
			s->route_tos = ip.tos;
		}
		__builtin_memcpy(e->src, ip.saddr, 4);
		__builtin_memcpy(e->dst, ip.daddr, 4);
		e->proto = ip.proto;
		e->ttl = ip.ttl;
		e->ip_id = bpf_ntohs(ip.id);
		frag = bpf_ntohs(ip.frag_off);
		s->fp[0] = ((__u64)4 << 56) | ((__u64)ip.proto << 48) | ((__u64)e->ip_id << 16) |
			   bpf_ntohs(ip.tot_len);
		s->fp[1] = frag;
		ihl = (ip.vihl & 0x0f) * 4;
		if (ihl < 20) {
			e->anomalies |= CT_ANOM_BAD_IHL;
			return 0;
		}
		if (bpf_ntohs(ip.tot_len) < ihl)
			e->anomalies |= CT_ANOM_BAD_IP_LEN;
		if (frag & 0x3fff) {
			e->anomalies |= CT_ANOM_FRAGMENT;
			if (frag & 0x1fff) {
				e->anomalies |= CT_ANOM_NON_FIRST_FRAG;
				return 0;
			}
		}
		l3->proto = ip.proto;
		l3->l4off = off + ihl;
		l3->has_l4 = 1;
		return 0;
	}
	if (ethertype == ETH_P_IPV6) {
		struct {
			__be32 vtcfl;
			__be16 plen;
			__u8 nexthdr;
			__u8 hlim;
			__u8 saddr[16];
			__u8 daddr[16];
		} ip6;
		struct {
			__u8 nexthdr;
			__u8 len;
			__be16 frag_off;
			__be32 id;
		} ext;
		__u8 nh;

		if (CT_LOAD(src, off, &ip6, sizeof(ip6))) {
			e->anomalies |= CT_ANOM_TRUNCATED;
			return -1;
		}
		if ((bpf_ntohl(ip6.vtcfl) >> 28) != 6) {
			e->anomalies |= CT_ANOM_BAD_IP_VERSION;
			return -1;
		}
		e->family = 6;
		if (!s->route_set) {
			s->route_set = 1;
			s->route_flowinfo = ip6.vtcfl & bpf_htonl(0x0fffffff);
		}
		__builtin_memcpy(e->src, ip6.saddr, 16);
		__builtin_memcpy(e->dst, ip6.daddr, 16);
		e->ttl = ip6.hlim;
		s->fp[0] = ((__u64)6 << 56) | ((__u64)bpf_ntohs(ip6.plen) << 20) |
			   (bpf_ntohl(ip6.vtcfl) & 0xfffff);
		off += 40;
		nh = ip6.nexthdr;
#pragma unroll
		for (int i = 0; i < CT_MAX_IPV6_EXT; i++) {
			if (nh != 0 && nh != 43 && nh != 44 && nh != 51 && nh != 60)
				break;
			if (CT_LOAD(src, off, &ext, sizeof(ext))) {
				e->anomalies |= CT_ANOM_TRUNCATED;
				e->proto = nh;
				return 0;
			}
			if (nh == 44) { /* fragment header: fixed 8 bytes */
				__u16 fo = bpf_ntohs(ext.frag_off);

				e->anomalies |= CT_ANOM_FRAGMENT;
				e->ip_id = bpf_ntohl(ext.id);
				s->fp[1] = ((__u64)e->ip_id << 16) | fo;
				off += 8;
				nh = ext.nexthdr;
				if (fo & 0xfff8) {
					e->anomalies |= CT_ANOM_NON_FIRST_FRAG;
					e->proto = nh;
					return 0;
				}
			} else if (nh == 51) { /* AH counts 4-byte units, minus 2 */
				off += ((__u32)ext.len + 2) * 4;
				nh = ext.nexthdr;
			} else {
				off += ((__u32)ext.len + 1) * 8;
				nh = ext.nexthdr;
			}
		}
		e->proto = nh;
		s->fp[0] |= (__u64)nh << 48;
		if (nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60) {
			e->anomalies |= CT_ANOM_IPV6_EXT_LIMIT;
			return 0;
		}
		l3->proto = nh;
		l3->l4off = off;
		l3->has_l4 = 1;
		return 0;
	}
	return -1;
}

/* TCP/UDP/ICMP header at l3->l4off. Sets *vxlan_off to the VXLAN payload (inner Ethernet) offset when
 * the packet is UDP to ct_cfg.vxlan_port with a well-formed VXLAN header. */
static __always_inline void ct_parse_l4(struct ct_src *src, struct ct_scratch *s, struct ct_l3 *l3,
					__u32 *vxlan_off, __u32 *vni)
{
	struct ct_event *e = &s->ev;
	__u32 off = l3->l4off;

	if (!l3->has_l4)
		return;
	if (l3->proto == IPPROTO_TCP) {
		struct {
			__be16 sport;
			__be16 dport;
			__be32 seq;
			__be32 ack;
			__u8 doff;
			__u8 flags;
			__be16 win;
		} th;

		if (CT_LOAD(src, off, &th, sizeof(th))) {
			e->anomalies |= CT_ANOM_TRUNCATED;
			return;
		}
		e->sport = bpf_ntohs(th.sport);
		e->dport = bpf_ntohs(th.dport);
		e->tcp_flags = th.flags;
		if ((th.doff >> 4) < 5)
			e->anomalies |= CT_ANOM_BAD_L4;
		s->fp[2] = ((__u64)e->sport << 16) | e->dport;
		s->fp[3] = bpf_ntohl(th.seq);
		s->fp[4] = bpf_ntohl(th.ack);
		s->fp[5] = th.flags;
	} else if (l3->proto == IPPROTO_UDP) {
		struct {
			__be16 sport;
			__be16 dport;
			__be16 len;
			__be16 check;
		} uh;
		struct {
			__u8 flags;
			__u8 rsvd[3];
			__u8 vni[3];
			__u8 rsvd2;
		} vx;
		__u64 payload = 0;

		if (CT_LOAD(src, off, &uh, sizeof(uh))) {
			e->anomalies |= CT_ANOM_TRUNCATED;
			return;
		}
		e->sport = bpf_ntohs(uh.sport);
		e->dport = bpf_ntohs(uh.dport);
		if (CT_LOAD(src, off + 8, &payload, sizeof(payload)))
			payload = 0; /* shorter than 8 bytes: hash what there is (nothing) */
		s->fp[2] = ((__u64)e->sport << 16) | e->dport;
		s->fp[3] = bpf_ntohs(uh.len);
		s->fp[4] = payload;
		if (e->dport == ct_cfg.vxlan_port) {
			if (CT_LOAD(src, off + 8, &vx, sizeof(vx)) || !(vx.flags & 0x08)) {
				e->anomalies |= CT_ANOM_BAD_VXLAN;
				return;
			}
			*vni = ((__u32)vx.vni[0] << 16) | ((__u32)vx.vni[1] << 8) | vx.vni[2];
			*vxlan_off = off + 16;
		}
	} else if (l3->proto == IPPROTO_ICMP || l3->proto == IPPROTO_ICMPV6) {
		struct {
			__u8 type;
			__u8 code;
			__be16 check;
			__be16 id;
			__be16 seq;
		} ih;

		if (CT_LOAD(src, off, &ih, sizeof(ih))) {
			e->anomalies |= CT_ANOM_TRUNCATED;
			return;
		}
		e->icmp_type = ih.type;
		e->icmp_code = ih.code;
		/* Echo request/reply carry id and sequence; other types carry unrelated data there. */
		if (ih.type == 0 || ih.type == 8 || ih.type == 128 || ih.type == 129) {
			e->icmp_id = bpf_ntohs(ih.id);
			e->icmp_seq = bpf_ntohs(ih.seq);
		}
		s->fp[2] = ((__u64)ih.type << 40) | ((__u64)ih.code << 32) |
			   ((__u32)bpf_ntohs(ih.id) << 16) | bpf_ntohs(ih.seq);
	}
}

/* Parse from the L3 header at off. When it is VXLAN, move the outer view into tun_* and parse the
 * inner Ethernet frame, so the record describes the packet the pods exchanged. */
static __always_inline int ct_parse_from_l3(struct ct_src *src, struct ct_scratch *s, __u32 off,
					    __u16 ethertype)
{
	struct ct_event *e = &s->ev;
	struct ct_l3 l3 = {};
	__u32 vxlan_off = 0, vni = 0;
	__u16 inner_type = 0;
	int inner_off;

	if (ct_parse_ip(src, s, off, ethertype, &l3))
		return -1;
	ct_parse_l4(src, s, &l3, &vxlan_off, &vni);
	if (!vxlan_off)
		return 0;

	e->tun_family = e->family;
	__builtin_memcpy(e->tun_src, e->src, 16);
	__builtin_memcpy(e->tun_dst, e->dst, 16);
	e->tun_sport = e->sport;
	e->tun_dport = e->dport;
	e->vni = vni;
	/* Reset the per-packet fields so the inner packet fills them from scratch. */
	__builtin_memset(e->src, 0, 16);
	__builtin_memset(e->dst, 0, 16);
	__builtin_memset(s->fp, 0, sizeof(s->fp));
	e->family = 0;
	e->proto = 0;
	e->ttl = 0;
	e->ip_id = 0;
	e->sport = 0;
	e->dport = 0;

	inner_off = ct_parse_eth(src, e, vxlan_off, &inner_type, 0);
	if (inner_off < 0 || (inner_type != ETH_P_IP && inner_type != ETH_P_IPV6)) {
		e->anomalies |= CT_ANOM_BAD_VXLAN;
		return 0;
	}
	__builtin_memset(&l3, 0, sizeof(l3));
	if (ct_parse_ip(src, s, inner_off, inner_type, &l3)) {
		e->anomalies |= CT_ANOM_BAD_VXLAN;
		return 0;
	}
	vxlan_off = 0; /* VXLAN in VXLAN is reported as the UDP packet it is */
	ct_parse_l4(src, s, &l3, &vxlan_off, &vni);
	return 0;
}

/* --- fingerprint ------------------------------------------------------------------------------- */

static __always_inline __u64 ct_mix(__u64 h, __u64 v)
{
	h ^= v;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return h;
}

static __always_inline __u64 ct_fingerprint(struct ct_scratch *s)
{
	__u64 w[4];
	__u64 h = 0x63616c6974726163ULL; /* "calitrac" */

	__builtin_memcpy(w, s->ev.src, 16);
	__builtin_memcpy(&w[2], s->ev.dst, 16);
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = ct_mix(h, w[i]);
#pragma unroll
	for (int i = 0; i < 6; i++)
		h = ct_mix(h, s->fp[i]);
	return h;
}

/*
 * The same packet before and after netfilter NAT (kube-proxy's DNAT to a Service backend, masquerade):
 * only the fields NAT leaves alone — IP id, lengths, fragment bits, TCP sequence/ack/flags, UDP length and
 * first payload bytes, ICMP type/code/sequence (masquerade may rewrite the echo id). 32 bits: it is only
 * compared between a packet that vanished and one that appeared on this node within one window.
 */
static __always_inline __u32 ct_nat_fingerprint(struct ct_scratch *s)
{
	__u64 h = 0x6e61742d66702121ULL; /* "nat-fp!!" */

	if (!s->ev.family)
		return 0;
	h = ct_mix(h, s->fp[0]);
	h = ct_mix(h, s->fp[1]);
	if (s->ev.proto == IPPROTO_ICMP || s->ev.proto == IPPROTO_ICMPV6)
		h = ct_mix(h, s->fp[2] & ~(0xffffULL << 16));
	h = ct_mix(h, s->fp[3]);
	h = ct_mix(h, s->fp[4]);
	h = ct_mix(h, s->fp[5]);
	h ^= h >> 32;
	return (__u32)h ? (__u32)h : 1;
}

#endif /* CALITRACE_PARSE_BPF_H */
