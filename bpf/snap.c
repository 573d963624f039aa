// SPDX-License-Identifier: Apache-2.0
/*
 * Packet snapshots (snap.h, docs/protocol.md "SNAP"): --snaplen N turns them on before load, their ring
 * buffer is read by the same poll loop as the events, and they leave as SNAP frames — batched like
 * EVENTS, with the kernel's running count of snapshots it could not queue. Its state is its own
 * (struct snapshots: the batch, its reader), created by main and passed to every function.
 */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "snap.h"
#include "calitrace.skel.h" /* after loader.h: it needs maps.h's struct ct_config */

void snaps_init(struct snapshots *sn, struct output *out, __u32 snaplen, int wakeup_ms)
{
	memset(sn, 0, sizeof(*sn));
	sn->out = out;
	sn->snaplen = snaplen;
	sn->wait_ns = (__u64)wakeup_ms * 1000000;
}

void snap_configure(struct snapshots *sn, struct calitrace *skel, int ringbuf_mb, int ncpus)
{
	sn->skel = skel;
	sn->ncpus = ncpus;
	skel->rodata->ct_snaplen = sn->snaplen;
	/* Off: the smallest ring the kernel accepts (one page); on: as large as the event ring. */
	bpf_map__set_max_entries(skel->maps.ct_snaps, sn->snaplen ? (__u32)ringbuf_mb << 20 : 4096);
}

static __u64 snap_lost(struct snapshots *sn)
{
	__u64 vals[sn->ncpus > 0 ? sn->ncpus : 1], sum = 0;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(sn->skel->maps.ct_snap_lost), &zero, vals))
		return sn->lost_reported;
	for (int c = 0; c < sn->ncpus; c++)
		sum += vals[c];
	return sum;
}

void snap_flush(struct snapshots *sn)
{
	struct ct_snap_frame f = { .count = sn->count, .snaplen = sn->snaplen };

	if (!sn->snaplen)
		return;
	f.lost_total = snap_lost(sn);
	if (!sn->count && f.lost_total == sn->lost_reported)
		return;
	out_frame(sn->out, CT_FRAME_SNAP, &f, sizeof(f), sn->buf, sn->len, NULL, 0);
	sn->lost_reported = f.lost_total;
	sn->len = 0;
	sn->count = 0;
}

/* From the poll loop, after the ring's drain: snapshots wait one drain interval at most, and not at
 * all once their events have gone out (the poll timeout follows the drain timer only). */
void snap_tick(struct snapshots *sn, __u64 now)
{
	if (sn->snaplen && sn->count && (now >= sn->since + sn->wait_ns || !events_pending(sn->out)))
		snap_flush(sn);
}

/* The snapshot ring's callback (ctx: the struct snapshots). */
static int on_snap(void *ctx, void *data, size_t size)
{
	struct snapshots *sn = ctx;
	const struct ct_snap *s = data;
	size_t n;

	if (size >= sizeof(*s) && s->cap_len <= CT_SNAP_MAX && sizeof(*s) + s->cap_len <= size) {
		n = sizeof(*s) + s->cap_len;
		if (!sn->count)
			sn->since = now_mono_ns();
		memcpy(sn->buf + sn->len, data, n);
		memset(sn->buf + sn->len + n, 0, (8 - (n & 7)) & 7); /* each snapshot padded to 8 */
		sn->len += (n + 7) & ~(size_t)7;
		sn->count++;
		if (sn->len >= SNAP_FLUSH)
			snap_flush(sn);
	}
	if (++sn->consumed >= CONSUME_ROUND)
		return -EAGAIN;
	return 0;
}

int snap_attach(struct snapshots *sn)
{
	if (!sn->snaplen)
		return 0;
	sn->rb = ring_buffer__new(bpf_map__fd(sn->skel->maps.ct_snaps), on_snap, sn, NULL);
	return sn->rb ? 0 : -errno;
}

int snap_poll_fd(const struct snapshots *sn)
{
	return sn->rb ? ring_buffer__epoll_fd(sn->rb) : -1;
}

/* One round (CONSUME_ROUND snapshots at most: stdin and netlink get their turn). */
void snap_consume(struct snapshots *sn)
{
	if (!sn->rb)
		return;
	sn->consumed = 0;
	ring_buffer__consume(sn->rb);
}

void snap_drain(struct snapshots *sn)
{
	for (int round = 0; sn->rb && round < 64 && !output_broken(sn->out); round++) {
		sn->consumed = 0;
		if (ring_buffer__consume(sn->rb) != -EAGAIN)
			break;
	}
	snap_flush(sn);
	ring_buffer__free(sn->rb);
	sn->rb = NULL;
}

/* The golden SNAP frame of docs/protocol.md (two snapshots, distinctive values), for decoder tests. */
int snap_write_golden(struct snapshots *sn)
{
	static const __u8 eth[14] = { 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0x62, 0x75, 0xe8, 0x60, 0x53, 0xf0, 0x08, 0x00 };
	static const __u8 ip[20] = { 0x45, 0x00, 0x00, 0x54, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01,
				     0x00, 0x00, 0x0a, 0xe9, 0x65, 0xde, 0x0a, 0xe9, 0x65, 0xe6 };
	struct { struct ct_snap h; __u8 data[CT_SNAP_MAX]; } s;

	sn->snaplen = CT_SNAP_DEFAULT;
	memset(&s, 0, sizeof(s));
	s.h.ts_ns = 0x000A0B0C0D0E0F10ull;
	s.h.fingerprint = 0x8877665544332211ull;
	s.h.ifindex = 0x00012345;
	s.h.wire_len = 1514;
	s.h.cap_len = sizeof(eth);
	s.h.dir = 1;
	s.h.link = CT_SNAP_ETHERNET;
	memcpy(s.data, eth, sizeof(eth));
	on_snap(sn, &s, sizeof(s.h) + sizeof(eth));
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
	on_snap(sn, &s, sizeof(s.h) + sizeof(ip));
	{
		struct ct_snap_frame f = { .count = sn->count, .snaplen = sn->snaplen, .lost_total = 3 };

		out_frame(sn->out, CT_FRAME_SNAP, &f, sizeof(f), sn->buf, sn->len, NULL, 0);
	}
	out_flush(sn->out);
	return output_broken(sn->out) ? 1 : 0;
}
