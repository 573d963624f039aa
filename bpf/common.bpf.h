/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by tracer.bpf.c (tc hooks) and drops.bpf.c (kfree_skb): the maps both use, the counters,
 * the filter, and (parse.bpf.h) the packet parser and the fingerprint. The two programs read packet bytes differently (tc:
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

/*
 * Packets that passed an address/port filter at ingress, by NAT fingerprint (value: when). netfilter may
 * rewrite them before the next hook (a Service address DNATed to a pod): their later records no longer
 * match the filter, but are still the packet the user asked for.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} ct_nat_follow SEC(".maps") __weak;

#define CT_NAT_FOLLOW_NS 1000000000ULL /* a packet crosses the node well within a second */

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

/* 0 when the record is in the ring (a snapshot follows only a record that was sent). */
static __always_inline int ct_submit(struct ct_event *e)
{
	if (bpf_ringbuf_output(&ct_events, e, sizeof(*e), 0)) {
		ct_count(CT_CNT_RB_FAIL);
		return -1;
	}
	return 0;
}

#include "parse.bpf.h"

/*
 * The filter, following NAT: a record that misses it passes when a packet with its NAT fingerprint
 * passed it at an ingress hook within the last second. Only a filtered trace pays for this (a hash
 * lookup on a miss, an update per matching ingress packet).
 */
static __always_inline int ct_filter_match_nat(const struct ct_settings *cfg, struct ct_scratch *s, int ingress)
{
	__u32 nfp;
	__u64 now, *seen;

	if (!cfg->filter)
		return 1;
	nfp = ct_nat_fingerprint(s);
	s->ev.nat_fp = nfp; /* the record keeps it: hashed once per packet */
	if (ct_filter_match(cfg, &s->ev)) {
		if (ingress && nfp) {
			now = bpf_ktime_get_ns();
			bpf_map_update_elem(&ct_nat_follow, &nfp, &now, BPF_ANY);
		}
		return 1;
	}
	if (!nfp)
		return 0;
	seen = bpf_map_lookup_elem(&ct_nat_follow, &nfp);
	return seen && bpf_ktime_get_ns() - *seen < CT_NAT_FOLLOW_NS;
}

#endif /* CALITRACE_COMMON_BPF_H */
