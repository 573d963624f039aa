/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet snapshots for pcapng (snap.h): when the loader sets ct_snaplen (only for --write), every record
 * a hook sends is followed by the packet's first ct_snaplen bytes in the ct_snaps ring buffer. With
 * ct_snaplen = 0 (the default) the verifier removes the call: the default mode pays nothing.
 *
 * Include after common.bpf.h (needs struct ct_event and the map macros).
 */
#ifndef CALITRACE_SNAP_BPF_H
#define CALITRACE_SNAP_BPF_H

#include "snap.h"

/* Fixed before load by the loader's --snaplen (0: off). __weak: both objects define it. */
const volatile __u32 ct_snaplen __weak = 0;

struct ct_snap_buf {
	struct ct_snap h;
	__u8 data[CT_SNAP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by the loader with the event ring (--ringbuf-mb) */
} ct_snaps SEC(".maps") __weak;

/* [0] snapshots the ring could not take (reported in SNAP frames). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ct_snap_lost SEC(".maps") __weak;

/* One buffer per program kind: a tc program may interrupt the kfree_skb program on the same CPU. */
#define CT_SNAP_BUF_MAP(name)                             \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);  \
		__uint(max_entries, 1);                   \
		__type(key, __u32);                       \
		__type(value, struct ct_snap_buf);        \
	} name SEC(".maps") __weak

CT_SNAP_BUF_MAP(ct_snap_buf_tc);
CT_SNAP_BUF_MAP(ct_snap_buf_drop);

static __always_inline struct ct_snap_buf *ct_snap_begin(void *map, const struct ct_event *e, __u32 wire_len,
							  __u8 link)
{
	__u32 zero = 0;
	struct ct_snap_buf *b = bpf_map_lookup_elem(map, &zero);

	if (!b)
		return 0;
	b->h.ts_ns = e->ts_ns;
	b->h.fingerprint = e->fingerprint;
	b->h.ifindex = e->ifindex;
	b->h.wire_len = wire_len;
	b->h.dir = e->dir;
	b->h.link = link;
	b->h.drop_reason = e->drop_reason;
	return b;
}

static __always_inline __u32 ct_snap_cap(__u32 wire_len)
{
	__u32 n = ct_snaplen;

	if (n > wire_len)
		n = wire_len;
	if (n > CT_SNAP_MAX)
		n = CT_SNAP_MAX;
	return n;
}

static __always_inline void ct_snap_send(struct ct_snap_buf *b, __u32 n)
{
	__u32 zero = 0;
	__u64 *lost;

	b->h.cap_len = n;
	/* exactly header + n bytes; the loader pads each snapshot to 8 in the frame */
	if (bpf_ringbuf_output(&ct_snaps, b, CT_SNAP_HDR_SIZE + n, 0)) {
		lost = bpf_map_lookup_elem(&ct_snap_lost, &zero);
		if (lost)
			__sync_fetch_and_add(lost, 1);
	}
}

/* tc hooks: the frame from its Ethernet header (bpf_skb_load_bytes also reads paged data). */
static __always_inline void ct_snap_skb(struct __sk_buff *skb, const struct ct_event *e)
{
	struct ct_snap_buf *b;
	__u32 n;

	if (!ct_snaplen)
		return;
	b = ct_snap_begin(&ct_snap_buf_tc, e, skb->len, CT_SNAP_ETHERNET);
	if (!b)
		return;
	n = ct_snap_cap(skb->len);
	if (n == 0)
		return;
	/* n is 1..CT_SNAP_MAX already; the mask says so in a form the verifier tracks through clang's code */
	n = ((n - 1) & (CT_SNAP_MAX - 1)) + 1;
	if (bpf_skb_load_bytes(skb, 0, b->data, n))
		return;
	ct_snap_send(b, n);
}

/* kfree_skb: from the network header, linear data only (wire_len: the L3 packet's length). */
static __always_inline void ct_snap_l3(const unsigned char *l3, __u32 linear, __u32 wire_len, const struct ct_event *e)
{
	struct ct_snap_buf *b;
	__u32 n;

	if (!ct_snaplen)
		return;
	b = ct_snap_begin(&ct_snap_buf_drop, e, wire_len, CT_SNAP_RAW_IP);
	if (!b)
		return;
	n = ct_snap_cap(wire_len < linear ? wire_len : linear);
	if (n == 0)
		return;
	/* n is 1..CT_SNAP_MAX already; the mask says so in a form the verifier tracks through clang's code */
	n = ((n - 1) & (CT_SNAP_MAX - 1)) + 1;
	if (bpf_probe_read_kernel(b->data, n, l3))
		return;
	ct_snap_send(b, n);
}

#endif /* CALITRACE_SNAP_BPF_H */
