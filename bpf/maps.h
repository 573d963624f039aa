/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Types shared by the BPF programs and the loader that are NOT wire format: the static config, the
 * runtime settings and filter keys the loader writes, the flow-table key/value the loader flushes,
 * and the per-CPU counter indexes. (The wire format is event.h.)
 */
#ifndef CALITRACE_MAPS_H
#define CALITRACE_MAPS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Indexes of the per-CPU counters array (read by the loader for STATS frames). */
enum ct_counter {
	CT_CNT_RB_FAIL = 0,
	CT_CNT_SEEN = 1,
	CT_CNT_MATCHED = 2,
	CT_CNT_DROPS = 3,
	CT_CNT_CASE_RECORDS = 4, /* case mode: records shipped (first packet of a case, drops) */
	CT_CNT_MAX = 5,
};

/* Runtime settings, written by the loader on `filter`/`mode` commands. */
#define CT_F_SRC (1u << 0)
#define CT_F_DST (1u << 1)
#define CT_F_HOST (1u << 2)
#define CT_F_PROTO (1u << 3)
#define CT_F_PORT (1u << 4)
#define CT_F_SPORT (1u << 5)
#define CT_F_DPORT (1u << 6)

enum ct_mode {
	CT_MODE_PACKET = 0, /* a record per packet and hop */
	CT_MODE_FLOW = 1,   /* counters per flow and hop; records for new flows and SYN/FIN/RST */
	CT_MODE_CASE = 2,   /* every packet counted into its hop case; records only for new cases and drops */
};
#define CT_CASE_SLOTS 4 /* epochs counted at once: the loader reads an epoch two epochs after it ended */
#define CT_SIZE_MARKS 16 /* case mode: frame lengths a case tells apart (struct ct_settings) */

/* Static settings, fixed by the loader before load (skeleton rodata: ct_cfg). */
struct ct_config {
	__u32 netns_ino;  /* drops: the loader's network namespace inode; 0 = every namespace */
	__u8 fib_lookup;  /* tc: 1 = run bpf_fib_lookup() at ingress */
	__u8 _pad;
	__u16 vxlan_port; /* UDP destination port decoded as VXLAN (Calico: 4789) */
	/* Unread bytes in the ring past which a record wakes the loader at once (else it waits for the
	 * loader's --wakeup-ms timer). */
	__u32 wakeup_bytes;
};

struct ct_settings {
	__u32 filter; /* CT_F_* bits: which parts of the filter are set; 0 = trace everything */
	__u32 mode;   /* CT_MODE_* */
	__u16 port;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 _pad;
	__u32 epoch;      /* case mode: the current counting epoch (the loader advances it) */
	__u32 generation; /* case mode: the route-model generation (the collector sets it), part of a case */
	/* Case mode: frame lengths that change a verdict (an MTU plus its L2 header; 0 = unused). How many of
	 * them a non-TCP packet's length exceeds is part of its case (the collector sets them: "sizes"). */
	__u16 size_marks[CT_SIZE_MARKS];
};

/*
 * Case mode: a packet's last hop on this node, so its next hop chains to it. One direct-mapped table
 * (ct_inflight, common.bpf.h) of CT_INFLIGHT_SETS sets of two ways, the set named by the packet's NAT
 * fingerprint: a packet and what NAT made of it share a set. An entry says whose it is and is sealed.
 */
struct ct_inflight {
	__u64 case_id;
	__u64 ts_ns;
	__u64 fingerprint; /* whose hop this is */
	__u64 seal;        /* hash of the fields: an entry torn by a writer on another CPU does not match */
	__u32 epoch;
	__u32 hook;   /* ifindex << 2 | dir: the same hook again is another packet with the same headers */
	__u32 nat_fp; /* the packet's NAT fingerprint (0: none) */
	__u32 _pad;
};

#define CT_INFLIGHT_SETS (1u << 15) /* x 2 ways: 65536 hops, as many as the LRU hash held before */

struct ct_inflight_set {
	struct ct_inflight way[2];
};

struct ct_case_count {
	__u64 packets;
	__u64 bytes;
};

/* CIDR tries hold IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d, prefix + 96), so one trie serves both. */
struct ct_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct ct_flow_key {
	__u32 ifindex;
	__u8 dir;
	__u8 family;
	__u8 proto;
	__u8 _pad;
	__u16 sport; /* ICMP: echo id */
	__u16 dport;
	__u32 _pad2;
	__u8 src[16];
	__u8 dst[16];
};

struct ct_flow_val {
	__u64 packets;
	__u64 bytes;
	__u64 first_ns;
	__u64 last_ns;
};

#endif /* CALITRACE_MAPS_H */
