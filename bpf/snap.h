/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire format of packet snapshots (SNAP frames, docs/protocol.md "SNAP"): the first --snaplen bytes
 * of a traced packet at one hook, for `calitrace trace --write FILE.pcapng`. Kept apart from the event
 * record (event.h): snapshots are off unless asked for, travel in their own ring buffer and their own
 * frame type, and a decoder that does not know them skips the frame by its length.
 */
#ifndef CALITRACE_SNAP_H
#define CALITRACE_SNAP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define CT_FRAME_SNAP 9       /* frame type, next to enum ct_frame_type */
#define CT_SNAP_MAX 512       /* most bytes one snapshot carries (--snaplen upper bound) */
#define CT_SNAP_DEFAULT 128   /* outer Ethernet+IPv4+UDP+VXLAN (50) + inner Ethernet+IPv4+TCP (54) + slack */

enum ct_snap_link {
	CT_SNAP_ETHERNET = 1, /* tc hooks: the frame from its Ethernet header */
	CT_SNAP_RAW_IP = 2,   /* drops: from the network header (kfree_skb has no reliable L2 header) */
};

/* One snapshot: this header, then cap_len bytes, then zero padding to a multiple of 8. */
struct ct_snap {
	__u64 ts_ns;       /*  0 same value as the event record of this hook run (ct_rec.ts_ns) */
	__u64 fingerprint; /*  8 same value as the event record's fingerprint */
	__u32 ifindex;     /* 16 same as ct_rec.ifindex */
	__u32 wire_len;    /* 20 bytes of the packet at this hook (from the first byte snapped) */
	__u16 cap_len;     /* 24 bytes that follow the header (<= wire_len, <= CT_SNAP_MAX) */
	__u8 dir;          /* 26 enum ct_dir: 0 ingress, 1 egress, 2 drop */
	__u8 link;         /* 27 enum ct_snap_link */
	__u32 drop_reason; /* 28 drops: enum skb_drop_reason value; else 0 */
};                         /* 32 */

#define CT_SNAP_HDR_SIZE 32

/* SNAP frame payload: this, then `count` snapshots (each CT_SNAP_HDR_SIZE + cap_len rounded up to 8). */
struct ct_snap_frame {
	__u32 count;      /*  0 snapshots in this frame */
	__u32 snaplen;    /*  4 the --snaplen in effect */
	__u64 lost_total; /*  8 snapshots the kernel could not queue (ring full), running total */
};                        /* 16 */

#define CT_SNAP_OFFSET_CHECK(type, field, off) \
	_Static_assert(__builtin_offsetof(struct type, field) == (off), #type "." #field " offset")
_Static_assert(sizeof(struct ct_snap) == CT_SNAP_HDR_SIZE, "ct_snap size");
CT_SNAP_OFFSET_CHECK(ct_snap, fingerprint, 8);
CT_SNAP_OFFSET_CHECK(ct_snap, ifindex, 16);
CT_SNAP_OFFSET_CHECK(ct_snap, wire_len, 20);
CT_SNAP_OFFSET_CHECK(ct_snap, cap_len, 24);
CT_SNAP_OFFSET_CHECK(ct_snap, dir, 26);
CT_SNAP_OFFSET_CHECK(ct_snap, link, 27);
CT_SNAP_OFFSET_CHECK(ct_snap, drop_reason, 28);
_Static_assert(sizeof(struct ct_snap_frame) == 16, "ct_snap_frame size");
_Static_assert((CT_SNAP_MAX & (CT_SNAP_MAX - 1)) == 0, "a power of 2: snap.bpf.h masks with it");

#endif /* CALITRACE_SNAP_H */
