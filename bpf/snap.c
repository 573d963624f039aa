// SPDX-License-Identifier: Apache-2.0
/*
 * Packet snapshots (snap.h, docs/protocol.md "SNAP"): --snaplen N turns them on before load, their ring
 * buffer is read by the same poll loop as the events, and they leave as SNAP frames — batched like
 * EVENTS, with the kernel's running count of snapshots it could not queue.
 */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "snap.h"
#include "calitrace.skel.h" /* after loader.h: it needs maps.h's struct ct_config */

#define SNAP_FLUSH (60 * 1024) /* one frame stays well under CT_FRAME_MAX_PAYLOAD */

static __u32 snaplen;
static unsigned char snap_buf[SNAP_FLUSH + sizeof(struct ct_snap) + CT_SNAP_MAX];
static size_t snap_len;
static __u32 snap_count;
static __u64 snap_since, lost_reported;
/* A reader of its own: in one ring_buffer with the events, a flood of events (whose callback stops a
 * round with -EAGAIN) would keep libbpf from ever reaching the snapshot ring. */
static struct ring_buffer *snap_rb;
static int consumed; /* snapshots taken by the current snap_consume() */

void snap_set_len(__u32 n)
{
	snaplen = n;
}

void snap_configure(struct calitrace *skel, int ringbuf_mb)
{
	skel->rodata->ct_snaplen = snaplen;
	/* Off: the smallest ring the kernel accepts (one page); on: as large as the event ring. */
	bpf_map__set_max_entries(skel->maps.ct_snaps, snaplen ? (__u32)ringbuf_mb << 20 : 4096);
}

static __u64 snap_lost(void)
{
	__u64 vals[st.ncpus > 0 ? st.ncpus : 1], sum = 0;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(st.skel->maps.ct_snap_lost), &zero, vals))
		return lost_reported;
	for (int c = 0; c < st.ncpus; c++)
		sum += vals[c];
	return sum;
}

void snap_flush(void)
{
	struct ct_snap_frame f = { .count = snap_count, .snaplen = snaplen };

	if (!snaplen)
		return;
	f.lost_total = snap_lost();
	if (!snap_count && f.lost_total == lost_reported)
		return;
	out_frame(st.out, CT_FRAME_SNAP, &f, sizeof(f), snap_buf, snap_len, NULL, 0);
	lost_reported = f.lost_total;
	snap_len = 0;
	snap_count = 0;
}

/* From the poll loop, after the ring's drain: snapshots wait one drain interval at most, and not at
 * all once their events have gone out (the poll timeout follows the drain timer only). */
void snap_tick(__u64 now)
{
	if (snaplen && snap_count && (now >= snap_since + (__u64)env.wakeup_ms * 1000000 || !events_pending(st.out)))
		snap_flush();
}

static int on_snap(void *ctx, void *data, size_t size)
{
	const struct ct_snap *s = data;
	size_t n;

	if (size >= sizeof(*s) && s->cap_len <= CT_SNAP_MAX && sizeof(*s) + s->cap_len <= size) {
		n = sizeof(*s) + s->cap_len;
		if (!snap_count)
			snap_since = now_mono_ns();
		memcpy(snap_buf + snap_len, data, n);
		memset(snap_buf + snap_len + n, 0, (8 - (n & 7)) & 7); /* each snapshot padded to 8 */
		snap_len += (n + 7) & ~(size_t)7;
		snap_count++;
		if (snap_len >= SNAP_FLUSH)
			snap_flush();
	}
	if (++consumed >= CONSUME_ROUND)
		return -EAGAIN;
	return 0;
}

int snap_attach(void)
{
	if (!snaplen)
		return 0;
	snap_rb = ring_buffer__new(bpf_map__fd(st.skel->maps.ct_snaps), on_snap, NULL, NULL);
	return snap_rb ? 0 : -errno;
}

int snap_poll_fd(void)
{
	return snap_rb ? ring_buffer__epoll_fd(snap_rb) : -1;
}

/* One round (CONSUME_ROUND snapshots at most: stdin and netlink get their turn). */
void snap_consume(void)
{
	if (!snap_rb)
		return;
	consumed = 0;
	ring_buffer__consume(snap_rb);
}

void snap_drain(void)
{
	for (int round = 0; snap_rb && round < 64 && !output_broken(st.out); round++) {
		consumed = 0;
		if (ring_buffer__consume(snap_rb) != -EAGAIN)
			break;
	}
	snap_flush();
	ring_buffer__free(snap_rb);
	snap_rb = NULL;
}

/* The golden SNAP frame of docs/protocol.md (two snapshots, distinctive values), for decoder tests. */
int snap_write_golden(void)
{
	static const __u8 eth[14] = { 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0x62, 0x75, 0xe8, 0x60, 0x53, 0xf0, 0x08, 0x00 };
	static const __u8 ip[20] = { 0x45, 0x00, 0x00, 0x54, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01,
				     0x00, 0x00, 0x0a, 0xe9, 0x65, 0xde, 0x0a, 0xe9, 0x65, 0xe6 };
	struct { struct ct_snap h; __u8 data[CT_SNAP_MAX]; } s;

	snaplen = CT_SNAP_DEFAULT;
	memset(&s, 0, sizeof(s));
	s.h.ts_ns = 0x000A0B0C0D0E0F10ull;
	s.h.fingerprint = 0x8877665544332211ull;
	s.h.ifindex = 0x00012345;
	s.h.wire_len = 1514;
	s.h.cap_len = sizeof(eth);
	s.h.dir = 1;
	s.h.link = CT_SNAP_ETHERNET;
	memcpy(s.data, eth, sizeof(eth));
	on_snap(NULL, &s, sizeof(s.h) + sizeof(eth));
	memset(&s, 0, sizeof(s));
	s.h.ts_ns = 0x0000000100000002ull;
	s.h.fingerprint = 0x0102030405060708ull;
	s.h.ifindex = 7;
	s.h.wire_len = 84;
	s.h.cap_len = sizeof(ip);
	s.h.dir = 2;
	s.h.link = CT_SNAP_RAW_IP;
	s.h.drop_reason = 77;
	memcpy(s.data, ip, sizeof(ip));
	on_snap(NULL, &s, sizeof(s.h) + sizeof(ip));
	{
		struct ct_snap_frame f = { .count = snap_count, .snaplen = snaplen, .lost_total = 3 };

		out_frame(st.out, CT_FRAME_SNAP, &f, sizeof(f), snap_buf, snap_len, NULL, 0);
	}
	out_flush(st.out);
	return output_broken(st.out) ? 1 : 0;
}
