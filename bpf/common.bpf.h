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
#include "record.h"

#ifndef CT_WIRE_SLOT
#error "define CT_WIRE_SLOT (this program's slot in ct_wire) before including common.bpf.h"
#endif

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
const volatile struct ct_config ct_cfg __weak = {
	.fib_lookup = 1, .vxlan_port = CT_VXLAN_PORT, .wakeup_bytes = 512 << 10,
};

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

/*
 * The wire record is built in a per-CPU buffer and copied into the ring at its own size (a reserve needs
 * a constant size; the record's depends on its parts). One slot per program kind (CT_WIRE_SLOT): a tc
 * program may interrupt the kfree_skb program on the same CPU while it builds its record.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct ct_rec_max);
} ct_wire SEC(".maps") __weak;

/*
 * No wakeup per record: a wakeup costs the producer an irq_work and the consumer a trip through epoll
 * for every record it has already caught up with (about 3 us a record at 140 k records/s). The loader
 * drains the ring on a short timer (--wakeup-ms); only when the ring fills past ct_cfg.wakeup_bytes
 * (a fraction of its size) is the consumer woken at once, so a burst never waits for the timer.
 */
static __always_inline int ct_submit(struct ct_event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u32 slot = CT_WIRE_SLOT, n;
	struct ct_rec_max *w = bpf_map_lookup_elem(&ct_wire, &slot);

	if (!w) {
		ct_count(CT_CNT_RB_FAIL);
		return -1;
	}
	n = ct_record_encode(e, w);
	if (n > sizeof(*w)) /* never: tells the verifier the size is within the buffer */
		return -1;
	if (bpf_ringbuf_query(&ct_events, BPF_RB_AVAIL_DATA) >= ct_cfg.wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&ct_events, w, n, flags)) {
		ct_count(CT_CNT_RB_FAIL);
		return -1;
	}
	return 0;
}

#include "parse.bpf.h"

/* --- case mode ---------------------------------------------------------------------------------- */
/*
 * Every packet is counted, few are shipped. A packet's hop at a hook is a "case": a hash of the case of
 * its previous hop on this node (found by fingerprint in ct_inflight), the hook, the flow, the FIB's
 * answer, the tunnel's outer destination, the drop reason, anomalies, TTL expiry and the route-model
 * generation. Packets sharing every hop share the chain of cases, so user space judges a chain once and
 * multiplies. A case's first record is shipped (ct_case_known remembers it was, only once the ring took
 * it); later packets only add to the case's counter of their epoch (the epoch of their first hop: all
 * hops of one packet count in one epoch, so per epoch "ended at case C" = count(C) - count(children)).
 * Drops are always shipped (each keeps its own verdict line) and counted, so their parent's count is
 * not mistaken for packets that ended there.
 *
 * NAT: netfilter may rewrite a packet between its ingress and its egress (kube-proxy's DNAT of a Service
 * address, masquerade), which changes its fingerprint. Every hop is therefore also filed by the packet's NAT
 * fingerprint (over what NAT does not touch); an egress or drop whose fingerprint is unknown chains to the
 * newest ingress hop with its NAT fingerprint and another fingerprint. Its case differs from the
 * untranslated packet's (addresses and ports are part of a case), so the translated hop is shipped once
 * per case and user space pairs the two halves as it does in packet mode.
 */
#define CT_INFLIGHT_NS 1000000000ULL
/* An egress or a drop may come seconds after the hop before it: a packet the kernel queued while it
 * resolves the next hop's neighbour (ARP: 3 probes, 1 s apart) leaves, or dies with NEIGH_FAILED, then. */
#define CT_INFLIGHT_LATE_NS 4000000000ULL

/*
 * The in-flight table is direct-mapped: a packet's hop goes to the set its NAT fingerprint's low bits name,
 * into the way that held the same packet (same fingerprint) or else the older of the two, written in
 * place. A packet rewritten by NAT keeps its NAT fingerprint, so its translated hop finds the untranslated
 * one in the same set: one cache line pair per hop, where two LRU hashes (by fingerprint, and by NAT
 * fingerprint for the ingress hops) were written before. Every packet has a fingerprint of its own, so
 * every ingress hop inserted fresh keys into both full LRUs, each evicting under the LRU's locks
 * (calitrace-bench case-fresh: ≈ 2 µs per ingress hop, 0.7 µs per egress hop; a separate NAT array
 * still cost ≈ 230 ns per ingress hop under real traffic, mostly its cache miss).
 *
 * Losing an entry means what an LRU eviction meant: the packet's next hop does not chain and starts a
 * case of its own. With two ways, an entry is lost only when two later packets land in its set before
 * its next hop: at 300 k packets/s and 10 µs across the node, about one packet in 10^8.
 *
 * No lock: a reader on one CPU may copy an entry while a writer on another rewrites it, and see a mix of
 * both. Every entry therefore carries a seal, a hash of its fields written with them; the reader
 * recomputes it over what it copied, and a mix of two writes does not match (unless 64-bit hashes
 * collide), so it is "not found" — the same outcome as an entry overwritten a moment earlier. Writers
 * racing on one way can only spoil the entry the same way. Nothing else reads this map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CT_INFLIGHT_SETS);
	__type(key, __u32);
	__type(value, struct ct_inflight_set);
} ct_inflight SEC(".maps") __weak;

static __always_inline __u64 ct_inflight_seal(__u64 case_id, __u64 fingerprint, __u64 ts_ns, __u32 nat_fp,
					      __u32 epoch, __u32 hook)
{
	/* XORed pairs cancel only when both fields change by the same 64-bit delta. */
	__u64 h = ct_mix(case_id, fingerprint);

	h = ct_mix(h, ts_ns ^ (__u64)nat_fp << 32);
	return ct_mix(h, (__u64)epoch << 32 | hook);
}

static __always_inline struct ct_inflight_set *ct_inflight_set_of(const struct ct_event *e)
{
	__u32 idx = (e->nat_fp ? e->nat_fp : (__u32)e->fingerprint) & (CT_INFLIGHT_SETS - 1);

	return bpf_map_lookup_elem(&ct_inflight, &idx);
}

/*
 * Copies the packet's own last hop (same fingerprint) into *own and returns its way, or -1. Without one,
 * copies into *nat the newest ingress hop of another fingerprint with the packet's NAT fingerprint (the
 * packet before a NAT rewrite; nat->ts_ns stays 0 when there is none). A way whose seal fails is skipped.
 */
static __always_inline int ct_inflight_find(struct ct_inflight_set *set, const struct ct_event *e,
					    struct ct_inflight *own, struct ct_inflight *nat)
{
	int found = -1;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		struct ct_inflight *w = &set->way[i];
		struct ct_inflight c;

		if (w->fingerprint != e->fingerprint && (!e->nat_fp || w->nat_fp != e->nat_fp))
			continue;
		c.case_id = w->case_id;
		c.ts_ns = w->ts_ns;
		c.fingerprint = w->fingerprint;
		c.nat_fp = w->nat_fp;
		c.epoch = w->epoch;
		c.hook = w->hook;
		c.seal = w->seal;
		if (c.seal != ct_inflight_seal(c.case_id, c.fingerprint, c.ts_ns, c.nat_fp, c.epoch, c.hook))
			continue; /* torn, or its packet was dropped */
		if (c.fingerprint == e->fingerprint) {
			if (found < 0 || c.ts_ns > own->ts_ns) {
				*own = c;
				found = i;
			}
		} else if (e->nat_fp && c.nat_fp == e->nat_fp && (c.hook & 3) == CT_DIR_INGRESS &&
			   c.ts_ns > nat->ts_ns) {
			*nat = c;
		}
	}
	return found;
}

/* Writes the hop into way `way` (the packet's own, from ct_inflight_find) or, when -1, the older way. */
static __always_inline void ct_inflight_put(struct ct_inflight_set *set, int way, const struct ct_event *e,
					    __u32 hook)
{
	struct ct_inflight *w;

	if (way < 0)
		way = set->way[1].ts_ns < set->way[0].ts_ns;
	w = &set->way[way & 1];
	w->case_id = e->case_id;
	w->ts_ns = e->ts_ns;
	w->fingerprint = e->fingerprint;
	w->nat_fp = e->nat_fp;
	w->epoch = e->epoch;
	w->hook = hook;
	w->seal = ct_inflight_seal(e->case_id, e->fingerprint, e->ts_ns, e->nat_fp, e->epoch, hook);
}

/* Case id -> last epoch it was seen in (the loader ages idle ones out). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
} ct_case_known SEC(".maps") __weak;

/*
 * An epoch's counters, per CPU: a case's packets may be counted on every CPU at once (one flow's packets
 * spread by RSS or RPS, many flows through one hop), and shared counters would bounce their cache line
 * between CPUs on every packet. The loader sums the CPUs' values when it empties the epoch. Not
 * preallocated: a preallocated per-CPU hash reserves every entry on every possible CPU up front
 * (65536 x 16 bytes per CPU per epoch); this one only holds the cases that occur.
 */
#define CT_CASE_SLOT_MAP(name)                            \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);   \
		__uint(max_entries, 65536);               \
		__uint(map_flags, BPF_F_NO_PREALLOC);     \
		__type(key, __u64);                       \
		__type(value, struct ct_case_count);       \
	} name SEC(".maps") __weak

CT_CASE_SLOT_MAP(ct_case_slot0);
CT_CASE_SLOT_MAP(ct_case_slot1);
CT_CASE_SLOT_MAP(ct_case_slot2);
CT_CASE_SLOT_MAP(ct_case_slot3);

/* How many of the collector's size marks the packet exceeds: packets of one case fit (or do not fit) the
 * same MTUs. TCP is left out: GSO segments it after routing, its length never warns. */
static __always_inline __u32 ct_size_class(const struct ct_settings *cfg, const struct ct_event *e)
{
	__u32 n = 0;

	if (e->proto == IPPROTO_TCP)
		return 0;
#pragma unroll
	for (int i = 0; i < CT_SIZE_MARKS; i++)
		if (cfg->size_marks[i] && e->len > cfg->size_marks[i])
			n++;
	return n;
}

static __always_inline __u64 ct_case_id(__u64 prev, const struct ct_event *e, __u32 generation, __u32 size_class)
{
	__u64 h = ct_mix(0x63617365696421ULL, prev); /* "caseid!" */
	__u64 w[4];
	__u16 id = e->proto == IPPROTO_ICMP || e->proto == IPPROTO_ICMPV6 ? e->icmp_id : 0;

	h = ct_mix(h, (__u64)e->ifindex << 32 | (__u64)e->dir << 24 | (__u64)e->kind << 16 |
			      (__u64)e->fib_result << 8 | e->tun_family);
	h = ct_mix(h, (__u64)e->fib_ifindex << 32 | e->anomalies);
	h = ct_mix(h, (__u64)generation << 32 | (__u64)e->family << 24 | (__u64)e->proto << 16 |
			      (__u64)(e->ttl <= 1) << 8 | (e->tcp_flags & (CT_TCP_SYN | CT_TCP_FIN | CT_TCP_RST)));
	h = ct_mix(h, (__u64)e->sport << 48 | (__u64)e->dport << 32 | (__u64)id << 16 |
			      (__u64)e->icmp_type << 8 | e->icmp_code);
	h = ct_mix(h, (__u64)e->mark << 32 | e->drop_reason);
	h = ct_mix(h, (__u64)size_class << 8 | e->fib_family);
	if (e->fib_family) { /* the gateway the FIB chose (a route may change it under one device) */
		__builtin_memcpy(w, e->fib_nexthop, 16);
		h = ct_mix(h, w[0]);
		h = ct_mix(h, w[1]);
	}
	__builtin_memcpy(w, e->src, 16);
	__builtin_memcpy(&w[2], e->dst, 16);
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = ct_mix(h, w[i]);
	if (e->tun_family) {
		__builtin_memcpy(w, e->tun_dst, 16);
		h = ct_mix(h, w[0]);
		h = ct_mix(h, w[1]);
	}
	return h ? h : 1;
}

static __always_inline void ct_slot_add(void *map, __u64 id, __u32 len)
{
	struct ct_case_count *c = bpf_map_lookup_elem(map, &id); /* this CPU's counters of the case */
	struct ct_case_count n = { .packets = 1, .bytes = len };

	if (!c) {
		/* A new case: this CPU's counters get the packet, the other CPUs' start at zero. */
		if (!bpf_map_update_elem(map, &id, &n, BPF_NOEXIST))
			return;
		c = bpf_map_lookup_elem(map, &id); /* another CPU created it meanwhile */
		if (!c) {
			ct_count(CT_CNT_RB_FAIL); /* the epoch's table is full: this packet is lost, counted */
			return;
		}
	}
	/* Atomic although per CPU: the tc program may interrupt the kfree_skb one on this CPU. */
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, len);
}

/*
 * Counts the packet into its hop case; fills case_id/prev_case/epoch. Returns 1 when the record must be
 * shipped (a new case, or a drop) — the caller then calls ct_case_shipped() if the ring took it.
 */
static __always_inline int ct_case_account(const struct ct_settings *cfg, struct ct_event *e)
{
	struct ct_inflight_set *set = ct_inflight_set_of(e);
	struct ct_inflight inf = {}, nat = {};
	__u32 hook = e->ifindex << 2 | e->dir;
	__u32 *known;
	int way;

	__u64 window = e->dir == CT_DIR_INGRESS ? CT_INFLIGHT_NS : CT_INFLIGHT_LATE_NS;

	/* set is never NULL (the index is below the array's size) but the verifier wants the check; without
	 * one the packet would still be counted, only not chained. */
	way = set ? ct_inflight_find(set, e, &inf, &nat) : -1;
	e->epoch = cfg->epoch;
	if (way >= 0 && e->ts_ns - inf.ts_ns < window && inf.hook != hook) {
		e->prev_case = inf.case_id;
		e->epoch = inf.epoch;
	} else if (e->dir != CT_DIR_INGRESS && nat.ts_ns && e->ts_ns - nat.ts_ns < window && nat.hook != hook) {
		/* Not seen under this fingerprint: rewritten by NAT since it entered. */
		e->prev_case = nat.case_id;
		e->epoch = nat.epoch;
	}
	/* A late hop (its packet's epoch is being, or has been, handed over) counts in the current epoch: its
	 * parent's count there goes below what went on, which user space reads as a correction of the earlier
	 * epoch where the packet seemed to end at the parent. */
	if (cfg->epoch - e->epoch >= 2)
		e->epoch = cfg->epoch;
	e->case_id = ct_case_id(e->prev_case, e, cfg->generation, ct_size_class(cfg, e));
	if (e->kind == CT_KIND_DROP) {
		if (set && way >= 0)
			set->way[way & 1].seal = ~inf.seal; /* the packet is gone: nothing chains to it */
	} else if (set) {
		ct_inflight_put(set, way, e, hook);
	}
	switch (e->epoch & (CT_CASE_SLOTS - 1)) {
	case 0: ct_slot_add(&ct_case_slot0, e->case_id, e->len); break;
	case 1: ct_slot_add(&ct_case_slot1, e->case_id, e->len); break;
	case 2: ct_slot_add(&ct_case_slot2, e->case_id, e->len); break;
	default: ct_slot_add(&ct_case_slot3, e->case_id, e->len); break;
	}
	if (e->kind == CT_KIND_DROP)
		return 1;
	known = bpf_map_lookup_elem(&ct_case_known, &e->case_id);
	if (known) {
		if (*known != e->epoch)
			*known = e->epoch;
		return 0;
	}
	return 1;
}

/* The ring took the case's first record: from now on its packets are only counted. */
static __always_inline void ct_case_shipped(const struct ct_event *e)
{
	__u32 epoch = e->epoch;

	ct_count(CT_CNT_CASE_RECORDS);
	if (e->kind != CT_KIND_DROP)
		bpf_map_update_elem(&ct_case_known, &e->case_id, &epoch, BPF_NOEXIST);
}

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
