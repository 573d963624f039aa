/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one encoder of the wire record (event.h, protocol 2): from the programs' full view of a packet at a
 * hook (struct ct_event) to struct ct_rec and the parts that apply. The BPF programs call it for every
 * record they ship; the loader calls it for the records it makes itself (flow flushes, --golden), so a
 * record reads the same wherever it was made.
 *
 * BPF: `out` is a per-CPU map value of sizeof(struct ct_rec_max); every part goes at a constant-size
 * step from the base, so the verifier sees each write within the buffer.
 */
#ifndef CALITRACE_RECORD_H
#define CALITRACE_RECORD_H

#include "event.h"

/* Which parts the record of `e` carries (enum ct_rec_part bits). */
static __always_inline __u8 ct_record_parts(const struct ct_event *e)
{
	__u8 parts = 0;

	if (e->family == 6)
		parts |= CT_PART_IP6;
	if (e->fib_result != CT_FIB_NOT_RUN)
		parts |= CT_PART_FIB;
	if (e->tun_family)
		parts |= CT_PART_TUN;
	if (e->case_id)
		parts |= CT_PART_CASE;
	if (e->kind == CT_KIND_FLOW)
		parts |= CT_PART_COUNTS;
	if (e->kind == CT_KIND_DROP)
		parts |= CT_PART_DROP;
	return parts;
}

/* Writes the record of `e` at `out` (room for struct ct_rec_max); returns its size. */
static __always_inline __u32 ct_record_encode(const struct ct_event *e, void *out)
{
	struct ct_rec *r = out;
	__u8 parts = ct_record_parts(e);
	__u32 off = sizeof(struct ct_rec);

	r->parts = parts;
	r->kind = e->kind;
	r->dir = e->dir;
	r->family = e->family;
	r->proto = e->proto;
	r->tcp_flags = e->tcp_flags;
	r->ts_ns = e->ts_ns;
	r->fingerprint = e->fingerprint;
	r->ifindex = e->ifindex;
	r->len = e->len;
	r->mark = e->mark;
	r->anomalies = e->anomalies;
	r->ip_id = e->ip_id;
	r->nat_fp = e->nat_fp;
	r->ttl = e->ttl;
	r->icmp_type = e->icmp_type;
	r->icmp_code = e->icmp_code;
	r->_pad0 = 0;
	r->sport = e->sport;
	r->dport = e->dport;
	r->icmp_id = e->icmp_id;
	r->icmp_seq = e->icmp_seq;
	r->vlan = e->vlan;
	r->_pad1 = 0;
	if (e->family == 4) {
		__builtin_memcpy(r->src4, e->src, 4);
		__builtin_memcpy(r->dst4, e->dst, 4);
	} else {
		__builtin_memset(r->src4, 0, 4);
		__builtin_memset(r->dst4, 0, 4);
	}
	if (parts & CT_PART_IP6) {
		struct ct_rec_ip6 *p = (void *)((__u8 *)out + off);

		__builtin_memcpy(p->src, e->src, 16);
		__builtin_memcpy(p->dst, e->dst, 16);
		off += sizeof(*p);
	}
	if (parts & CT_PART_FIB) {
		struct ct_rec_fib *p = (void *)((__u8 *)out + off);

		p->ifindex = e->fib_ifindex;
		p->result = e->fib_result;
		p->nexthop_family = e->fib_family;
		p->_pad0 = 0;
		__builtin_memcpy(p->nexthop, e->fib_nexthop, 16);
		off += sizeof(*p);
	}
	if (parts & CT_PART_TUN) {
		struct ct_rec_tun *p = (void *)((__u8 *)out + off);

		p->vni = e->vni;
		p->sport = e->tun_sport;
		p->dport = e->tun_dport;
		p->family = e->tun_family;
		__builtin_memset(p->_pad0, 0, sizeof(p->_pad0));
		__builtin_memcpy(p->src, e->tun_src, 16);
		__builtin_memcpy(p->dst, e->tun_dst, 16);
		off += sizeof(*p);
	}
	if (parts & CT_PART_CASE) {
		struct ct_rec_case *p = (void *)((__u8 *)out + off);

		p->case_id = e->case_id;
		p->prev_case = e->prev_case;
		p->epoch = e->epoch;
		p->_pad0 = 0;
		off += sizeof(*p);
	}
	if (parts & CT_PART_COUNTS) {
		struct ct_rec_counts *p = (void *)((__u8 *)out + off);

		p->packets = e->packets;
		p->bytes = e->bytes;
		off += sizeof(*p);
	}
	if (parts & CT_PART_DROP) {
		struct ct_rec_drop *p = (void *)((__u8 *)out + off);

		p->reason = e->drop_reason;
		p->_pad0 = 0;
		off += sizeof(*p);
	}
	r->size = off;
	return off;
}

#endif /* CALITRACE_RECORD_H */
