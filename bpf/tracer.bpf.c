// SPDX-License-Identifier: GPL-2.0-only
/*
 * tc hooks (ingress and egress; attached with TCX or as a clsact filter): parse the packet, filter,
 * and send an event record (packet mode) or count the flow (flow mode). At ingress the record also
 * carries the kernel's own FIB answer for the packet. Every path returns TC_ACT_UNSPEC (== TCX_NEXT):
 * the tracer only watches, the next program and the stack decide.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct ct_src {
	struct __sk_buff *skb;
};
#define CT_LOAD(src, off, dst, len) bpf_skb_load_bytes((src)->skb, (off), (dst), (len))

#define CT_WIRE_SLOT 0 /* tc hooks */
#include "common.bpf.h"
#include "snap.bpf.h"

CT_SCRATCH_MAP_DEF(ct_scratch_tc);

#define TC_ACT_UNSPEC (-1)

/* Kernel 6.10+: the lookup honours params.mark like the forward path honours skb->mark. */
#define CT_FIB_LOOKUP_MARK (1U << 5)

static __always_inline void ct_fib(struct __sk_buff *skb, struct ct_scratch *s)
{
	struct ct_event *e = &s->ev;
	struct bpf_fib_lookup p = {};
	long rc;

	/* The lookup answers for the header routed at this hop: the outer one of a VXLAN packet. */
	__u8 fam = e->tun_family ? e->tun_family : e->family;
	const __u8 *saddr = e->tun_family ? e->tun_src : e->src;
	const __u8 *daddr = e->tun_family ? e->tun_dst : e->dst;

	if (fam == 4) {
		p.family = AF_INET;
		p.tos = s->route_tos;
		__builtin_memcpy(&p.ipv4_src, saddr, 4);
		__builtin_memcpy(&p.ipv4_dst, daddr, 4);
	} else if (fam == 6) {
		p.family = AF_INET6;
		p.flowinfo = s->route_flowinfo;
		__builtin_memcpy(p.ipv6_src, saddr, 16);
		__builtin_memcpy(p.ipv6_dst, daddr, 16);
	} else {
		return;
	}
	if (!e->tun_family) {
		p.l4_protocol = e->proto;
		p.sport = bpf_htons(e->sport);
		p.dport = bpf_htons(e->dport);
	} else {
		p.l4_protocol = IPPROTO_UDP;
		p.sport = bpf_htons(e->tun_sport);
		p.dport = bpf_htons(e->tun_dport);
	}
	/* tot_len 0: the kernel checks the MTU against the skb itself, as the forward path does.
	 * ifindex = the ingress device, with neither DIRECT nor OUTPUT: a full input lookup through the
	 * policy rules with this device as iif (and the mark), i.e. what ip_route_input() will decide. */
	p.tot_len = 0;
	p.ifindex = skb->ingress_ifindex;
	p.mark = skb->mark;
	rc = bpf_fib_lookup(skb, &p, sizeof(p), CT_FIB_LOOKUP_MARK);
	if (rc == -22) /* -EINVAL: a kernel before 6.10 does not know the flag; ask without the mark */
		rc = bpf_fib_lookup(skb, &p, sizeof(p), 0);
	if (rc < 0)
		return;
	e->fib_result = (__u8)rc;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH ||
	    rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		e->fib_ifindex = p.ifindex;
		/* The kernel overwrites the destination with the gateway when the route has one. */
		if (p.family == AF_INET && fam == 4 && __builtin_memcmp(&p.ipv4_dst, daddr, 4) != 0) {
			e->fib_family = 4;
			__builtin_memcpy(e->fib_nexthop, &p.ipv4_dst, 4);
		} else if (p.family == AF_INET6) {
			int same = 1;

#pragma unroll
			for (int i = 0; i < 16; i++)
				if (((__u8 *)p.ipv6_dst)[i] != daddr[i])
					same = 0;
			if (!same || fam == 4) {
				e->fib_family = 6;
				__builtin_memcpy(e->fib_nexthop, p.ipv6_dst, 16);
			}
		}
	}
}

/* Flow mode: count the packet; 1 when it deserves its own record (new flow at this hop, SYN/FIN/RST). */
static __always_inline int ct_flow_account(struct ct_event *e)
{
	struct ct_flow_key k = {};
	struct ct_flow_val *v;

	k.ifindex = e->ifindex;
	k.dir = e->dir;
	k.family = e->family;
	k.proto = e->proto;
	k.sport = e->proto == IPPROTO_ICMP || e->proto == IPPROTO_ICMPV6 ? e->icmp_id : e->sport;
	k.dport = e->dport;
	__builtin_memcpy(k.src, e->src, 16);
	__builtin_memcpy(k.dst, e->dst, 16);

	v = bpf_map_lookup_elem(&ct_flows, &k);
	if (!v) {
		struct ct_flow_val nv = {
			.packets = 1, .bytes = e->len, .first_ns = e->ts_ns, .last_ns = e->ts_ns,
		};

		bpf_map_update_elem(&ct_flows, &k, &nv, BPF_NOEXIST);
		return 1;
	}
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, e->len);
	v->last_ns = e->ts_ns;
	return e->proto == IPPROTO_TCP && (e->tcp_flags & (CT_TCP_SYN | CT_TCP_FIN | CT_TCP_RST));
}

static __always_inline int ct_handle(struct __sk_buff *skb, __u8 dir)
{
	struct ct_src src = { .skb = skb };
	struct ct_settings *cfg;
	struct ct_scratch *s;
	struct ct_event *e;
	__u16 ethertype = 0;
	int off;

	ct_count(CT_CNT_SEEN);
	cfg = ct_settings_get();
	s = ct_scratch_get(&ct_scratch_tc);
	if (!cfg || !s)
		return TC_ACT_UNSPEC;
	e = &s->ev;

	off = ct_parse_eth(&src, e, 0, &ethertype, 1);
	if (off >= 0) {
		if (ethertype != ETH_P_IP && ethertype != ETH_P_IPV6)
			return TC_ACT_UNSPEC; /* ARP, LLDP, ...: not what we trace */
		if (ct_parse_from_l3(&src, s, off, ethertype) && !e->anomalies)
			return TC_ACT_UNSPEC;
	}
	/* off < 0: a broken L2 header (too many VLAN tags, cut short) is reported as what it is. */
	if (!ct_filter_match_nat(cfg, s, dir == CT_DIR_INGRESS))
		return TC_ACT_UNSPEC;
	ct_count(CT_CNT_MATCHED);

	/* A tag the device accelerated out of the frame is the outermost one. */
	if (skb->vlan_present)
		e->vlan = skb->vlan_tci & 0x0fff;
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = CT_KIND_PACKET;
	e->dir = dir;
	e->ifindex = skb->ifindex;
	e->len = skb->len;
	e->mark = skb->mark;
	e->packets = 1;
	e->bytes = skb->len;
	e->fib_result = CT_FIB_NOT_RUN;

	if (cfg->mode == CT_MODE_FLOW && !ct_flow_account(e))
		return TC_ACT_UNSPEC;
	e->fingerprint = ct_fingerprint(s); /* only for records that are sent */
	if (!e->nat_fp) /* a filter has hashed it already (the scratch record starts zeroed) */
		e->nat_fp = ct_nat_fingerprint(s);
	if (dir == CT_DIR_INGRESS && ct_cfg.fib_lookup)
		ct_fib(skb, s);
	/* Case mode only without a selection: a filtered trace is the per-packet view. */
	if (cfg->mode == CT_MODE_CASE && !cfg->filter) {
		if (ct_case_account(cfg, e) && !ct_submit(e))
			ct_case_shipped(e);
		return TC_ACT_UNSPEC;
	}
	if (!ct_submit(e))
		ct_snap_skb(skb, e);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ct_tc_ingress(struct __sk_buff *skb)
{
	return ct_handle(skb, CT_DIR_INGRESS);
}

SEC("tc")
int ct_tc_egress(struct __sk_buff *skb)
{
	return ct_handle(skb, CT_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "GPL"; /* bpf_fib_lookup and tp_btf are GPL-only helpers */
