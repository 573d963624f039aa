// SPDX-License-Identifier: GPL-2.0-only
/*
 * skb:kfree_skb (tp_btf): report the death of a traced packet with the kernel's drop reason. The
 * packet is parsed from its network header with the same parser, filter and fingerprint as the tc
 * hooks, so the drop joins the packet's path. Only drops in the loader's network namespace count:
 * the tracepoint fires for every namespace on the host.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct ct_src {
	const unsigned char *base; /* skb->head + skb->network_header */
	__u32 limit;               /* bytes of linear data from base */
};
/* Only the linear part is readable here; a header beyond it reads as truncated. */
#define CT_LOAD(src, off, dst, len)                                                    \
	((__u32)(off) + (__u32)(len) > (src)->limit                                      \
		 ? -1                                                                    \
		 : bpf_probe_read_kernel((dst), (len), (src)->base + (__u32)(off)))

#define CT_WIRE_SLOT 1 /* kfree_skb */
#include "common.bpf.h"
#include "snap.bpf.h"

CT_SCRATCH_MAP_DEF(ct_scratch_drops);

static __always_inline __u32 ct_skb_netns(const struct sk_buff *skb)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	struct sock *sk;

	if (dev)
		return BPF_CORE_READ(dev, nd_net.net, ns.inum);
	sk = BPF_CORE_READ(skb, sk);
	if (sk)
		return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(ct_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct ct_settings *cfg;
	struct ct_scratch *s;
	struct ct_src src;
	struct ct_event *e;
	__u16 proto, nh;
	__u32 tail; /* sk_buff_data_t: an offset from head on 64-bit kernels */
	unsigned char *head;
	struct net_device *dev;

	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return 0;
	if (ct_cfg.netns_ino && ct_skb_netns(skb) != ct_cfg.netns_ino)
		return 0;
	proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	if (proto != ETH_P_IP && proto != ETH_P_IPV6)
		return 0;
	nh = BPF_CORE_READ(skb, network_header);
	if (nh == (__u16)~0U)
		return 0; /* network header never set: dropped before L3, nothing to match */
	head = BPF_CORE_READ(skb, head);
	tail = BPF_CORE_READ(skb, tail);
	if (tail <= nh)
		return 0;
	src.base = head + nh;
	src.limit = tail - nh;

	cfg = ct_settings_get();
	s = ct_scratch_get(&ct_scratch_drops);
	if (!cfg || !s)
		return 0;
	e = &s->ev;
	if (ct_parse_from_l3(&src, s, 0, proto) && !e->anomalies)
		return 0;
	if (!ct_filter_match_nat(cfg, s, 0))
		return 0;
	ct_count(CT_CNT_DROPS);

	dev = BPF_CORE_READ(skb, dev);
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = CT_KIND_DROP;
	e->dir = CT_DIR_NONE;
	e->ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	e->len = BPF_CORE_READ(skb, len);
	e->mark = BPF_CORE_READ(skb, mark);
	e->packets = 1;
	e->bytes = e->len;
	e->drop_reason = reason;
	e->fib_result = CT_FIB_NOT_RUN;
	e->fingerprint = ct_fingerprint(s);
	if (!e->nat_fp) /* a filter has hashed it already (the scratch record starts zeroed) */
		e->nat_fp = ct_nat_fingerprint(s);
	if (cfg->mode == CT_MODE_CASE && !cfg->filter) {
		if (ct_case_account(cfg, e) && !ct_submit(e))
			ct_case_shipped(e);
		return 0;
	}
	if (!ct_submit(e) && ct_snaplen) /* the L3 packet: skb->len counts from skb->data, which may be past the network header */
		ct_snap_l3(src.base, src.limit, e->len + (__u32)(BPF_CORE_READ(skb, data) - head) - nh, e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
