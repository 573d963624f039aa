/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by tracer.bpf.c (tc hooks) and drops.bpf.c (kfree_skb): the maps both use, the packet
 * parser, the fingerprint and the filter. The two programs read packet bytes differently (tc:
 * bpf_skb_load_bytes, tracepoint: bpf_probe_read_kernel of the linear data), so each defines
 * `struct ct_src` and CT_LOAD(src, off, dst, len) before including this file; everything else is
 * the same code, which is what makes a drop's fingerprint equal the tc hooks' fingerprint.
 *
 * Shared maps are __weak: both objects define them identically and `bpftool gen object` keeps one.
 */
#ifndef CALITRACE_COMMON_BPF_H
#define CALITRACE_COMMON_BPF_H

#include "event.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_HLEN 14
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define CT_TCP_FIN 0x01
#define CT_TCP_SYN 0x02
#define CT_TCP_RST 0x04

#include "maps.h"

/* The one static config (see struct ct_config); __weak: both objects define it, the linker keeps one. */
const volatile struct ct_config ct_cfg __weak = { .fib_lookup = 1, .vxlan_port = CT_VXLAN_PORT };

/* Per-CPU scratch: the record being built (too big for the 512-byte stack with everything else). */
struct ct_scratch {
	struct ct_event ev;
	__u64 fp[6]; /* fingerprint words beyond the addresses, see ct_fingerprint() */
	/* The header the FIB routes at this hop (the outer one of a VXLAN packet): its TOS / IPv6
	 * flowinfo feed bpf_fib_lookup() so rules that match them answer as for the real packet. */
	__u32 route_flowinfo; /* network order, traffic class + flow label */
	__u8 route_tos;
	__u8 route_set;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by the loader (--ringbuf-mb) */
} ct_events SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ct_counters SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_settings);
} ct_settings SEC(".maps") __weak;

/* Each object has its own scratch map (CT_SCRATCH_MAP): a softirq running the tc program can
 * interrupt the kfree_skb program on the same CPU, and must not overwrite its half-built record. */
#define CT_SCRATCH_MAP_DEF(name)                          \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);  \
		__uint(max_entries, 1);                   \
		__type(key, __u32);                       \
		__type(value, struct ct_scratch);         \
	} name SEC(".maps")

#define CT_LPM_MAP(name)                                  \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);      \
		__uint(max_entries, 16);                  \
		__type(key, struct ct_lpm_key);           \
		__type(value, __u8);                      \
		__uint(map_flags, BPF_F_NO_PREALLOC);     \
	} name SEC(".maps") __weak

CT_LPM_MAP(ct_filter_src);
CT_LPM_MAP(ct_filter_dst);
CT_LPM_MAP(ct_filter_host);

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ct_flow_key);
	__type(value, struct ct_flow_val);
} ct_flows SEC(".maps") __weak;

static __always_inline void ct_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&ct_counters, &idx);

	if (v)
		__sync_fetch_and_add(v, 1); /* per-CPU, but the tc program may interrupt the tracepoint one */
}

static __always_inline struct ct_scratch *ct_scratch_get(void *map)
{
	__u32 zero = 0;
	struct ct_scratch *s = bpf_map_lookup_elem(map, &zero);

	if (s)
		__builtin_memset(s, 0, sizeof(*s));
	return s;
}

static __always_inline struct ct_settings *ct_settings_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ct_settings, &zero);
}

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

/* --- filter ------------------------------------------------------------------------------------ */

static __always_inline int ct_lpm_match(void *map, const struct ct_event *e, const __u8 *addr)
{
	struct ct_lpm_key k = {};

	k.prefixlen = 128;
	if (e->family == 4) {
		k.addr[10] = 0xff;
		k.addr[11] = 0xff;
		__builtin_memcpy(&k.addr[12], addr, 4);
	} else {
		__builtin_memcpy(k.addr, addr, 16);
	}
	return bpf_map_lookup_elem(map, &k) != NULL;
}

/* 1 when the record passes the runtime filter. No filter set: one map lookup and one branch. */
static __always_inline int ct_filter_match(const struct ct_settings *cfg, const struct ct_event *e)
{
	__u32 f = cfg->filter;

	if (!f)
		return 1;
	if ((f & (CT_F_SRC | CT_F_DST | CT_F_HOST)) && e->family != 4 && e->family != 6)
		return 0;
	if ((f & CT_F_PROTO) && e->proto != cfg->proto)
		return 0;
	if ((f & CT_F_PORT) && e->sport != cfg->port && e->dport != cfg->port)
		return 0;
	if ((f & CT_F_SPORT) && e->sport != cfg->sport)
		return 0;
	if ((f & CT_F_DPORT) && e->dport != cfg->dport)
		return 0;
	if ((f & CT_F_SRC) && !ct_lpm_match(&ct_filter_src, e, e->src))
		return 0;
	if ((f & CT_F_DST) && !ct_lpm_match(&ct_filter_dst, e, e->dst))
		return 0;
	if ((f & CT_F_HOST) && !ct_lpm_match(&ct_filter_host, e, e->src) &&
	    !ct_lpm_match(&ct_filter_host, e, e->dst))
		return 0;
	return 1;
}

static __always_inline void ct_submit(struct ct_event *e)
{
	if (bpf_ringbuf_output(&ct_events, e, sizeof(*e), 0))
		ct_count(CT_CNT_RB_FAIL);
}

#endif /* CALITRACE_COMMON_BPF_H */
