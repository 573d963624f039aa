// SPDX-License-Identifier: Apache-2.0
/*
 * Frames on stdout (docs/protocol.md): a buffer of whole frames written in large batches, records
 * coalesced into EVENTS frames, and the helpers that build every other frame type. Its state is its own
 * (struct output): main creates it and every module that writes a frame is handed it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <poll.h>
#include <stdarg.h>
#include "loader.h"
#include "calitrace.skel.h" /* after loader.h: it needs maps.h's struct ct_config */

int output_open(struct output *o)
{
	memset(o, 0, sizeof(*o));
	o->buf = malloc(OUT_CAP);
	return o->buf ? 0 : -ENOMEM;
}

void output_close(struct output *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = 0;
}

bool output_broken(const struct output *o)
{
	return o->broken;
}

bool output_pending(const struct output *o)
{
	return o->len > 0;
}

bool events_pending(const struct output *o)
{
	return o->nbatch > 0;
}

/* Writes everything, riding out EINTR, EAGAIN (a non-blocking pipe) and short writes. */
void out_flush(struct output *o)
{
	size_t done = 0;

	while (done < o->len && !o->broken) {
		ssize_t n = write(STDOUT_FILENO, o->buf + done, o->len - done);

		if (n > 0) {
			done += n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };

			if (exiting && !o->exit_deadline)
				o->exit_deadline = now_mono_ns() + 2000000000ull;
			if (o->exit_deadline && now_mono_ns() > o->exit_deadline) {
				o->broken = true;
				break;
			}
			poll(&p, 1, 100);
		} else if (n < 0 && errno == EINTR) {
			/* A signal asked us to exit while the reader is stuck: give it 2 s to drain, then
			 * stop writing so the detach is not held hostage by a full pipe. */
			if (exiting && !o->exit_deadline)
				o->exit_deadline = now_mono_ns() + 2000000000ull;
			if (o->exit_deadline && now_mono_ns() > o->exit_deadline)
				o->broken = true;
		} else {
			/* EPIPE (SIGPIPE is ignored) or worse: nobody reads us any more, so stop cleanly. */
			o->broken = true;
			exiting = 1;
		}
	}
	o->len = 0;
}

void out_frame(struct output *o, __u16 type, const void *p1, size_t n1, const void *p2, size_t n2,
	       const void *p3, size_t n3)
{
	struct ct_frame_hdr h = {
		.magic = CT_FRAME_MAGIC,
		.version = CT_PROTOCOL_VERSION,
		.type = type,
		.length = (__u32)(n1 + n2 + n3),
		.seq = o->seq++,
	};
	size_t total = sizeof(h) + n1 + n2 + n3;

	if (o->len + total > OUT_CAP)
		out_flush(o);
	memcpy(o->buf + o->len, &h, sizeof(h));
	o->len += sizeof(h);
	if (n1)
		memcpy(o->buf + o->len, p1, n1);
	o->len += n1;
	if (n2)
		memcpy(o->buf + o->len, p2, n2);
	o->len += n2;
	if (n3)
		memcpy(o->buf + o->len, p3, n3);
	o->len += n3;
	o->frames_sent++;
	if (o->len >= OUT_FLUSH)
		out_flush(o);
}

void events_flush(struct output *o)
{
	struct ct_events_hdr eh = { .count = o->nbatch, .base_size = sizeof(struct ct_rec) };

	if (!o->nbatch)
		return;
	out_frame(o, CT_FRAME_EVENTS, &eh, sizeof(eh), o->batch, o->batch_len, NULL, 0);
	o->events_sent += o->nbatch;
	o->nbatch = 0;
	o->batch_len = 0;
}

void record_add(struct output *o, const void *rec, size_t size)
{
	if (o->batch_len + size > sizeof(o->batch))
		events_flush(o);
	memcpy(o->batch + o->batch_len, rec, size);
	o->batch_len += size;
	o->nbatch++;
}

void event_add(struct output *o, const struct ct_event *e)
{
	struct ct_rec_max r;

	record_add(o, &r, ct_record_encode(e, &r));
}

void send_error(struct output *o, int err, bool fatal, const char *fmt, ...)
{
	char msg[512];
	struct ct_error h = { .err = err, .fatal = fatal };
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n >= (int)sizeof(msg))
		n = sizeof(msg) - 1;
	fprintf(stderr, "calitrace-loader: %s\n", msg);
	h.msg_len = n;
	if (o && o->buf) {
		events_flush(o);
		out_frame(o, CT_FRAME_ERROR, &h, sizeof(h), msg, n, NULL, 0);
	}
}

void send_link(struct output *o, const struct iface *ifc, enum ct_link_state state)
{
	struct ct_link l = {
		.ifindex = ifc->ifindex,
		.state = state,
		.how = state == CT_LINK_ATTACHED ? ifc->how : CT_HOW_NONE,
		.role = ifc->role,
		.name_len = strlen(ifc->name),
	};

	events_flush(o); /* records before the link change stay before it */
	out_frame(o, CT_FRAME_LINK, &l, sizeof(l), ifc->name, l.name_len, NULL, 0);
}

void send_ack(struct output *o, const char *line, int status, const char *msg)
{
	struct ct_ack a = { .status = status, .line_len = strlen(line), .msg_len = strlen(msg) };

	events_flush(o);
	out_frame(o, CT_FRAME_ACK, &a, sizeof(a), line, a.line_len, msg, a.msg_len);
}

/* STATS: the kernel's counters (summed over CPUs), this output's, and what the caller's modules count. */
void send_stats(struct output *o, struct calitrace *skel, int ncpus, __u32 links_attached, __u64 flow_records)
{
	struct ct_stats s = { .ts_ns = now_mono_ns(), .ncpus = ncpus };
	__u64 totals[CT_CNT_MAX] = {}, *vals, *rb_fail;
	size_t sz = ncpus * sizeof(__u64);
	int fd = bpf_map__fd(skel->maps.ct_counters);

	vals = calloc(ncpus, sizeof(__u64));
	rb_fail = calloc(ncpus, sizeof(__u64));
	if (!vals || !rb_fail) {
		free(vals);
		free(rb_fail);
		return;
	}
	for (__u32 k = 0; k < CT_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < ncpus; c++) {
			totals[k] += vals[c];
			if (k == CT_CNT_RB_FAIL)
				rb_fail[c] = vals[c];
		}
	}
	events_flush(o);
	s.events_sent = o->events_sent;
	s.frames_sent = o->frames_sent;
	s.rb_fail_total = totals[CT_CNT_RB_FAIL];
	o->rb_fail_reported = s.rb_fail_total;
	s.pkts_seen = totals[CT_CNT_SEEN];
	s.pkts_matched = totals[CT_CNT_MATCHED];
	s.drops_seen = totals[CT_CNT_DROPS];
	s.flow_records = flow_records;
	s.links_attached = links_attached;
	out_frame(o, CT_FRAME_STATS, &s, sizeof(s), rb_fail, sz, NULL, 0);
	free(vals);
	free(rb_fail);
}

/* Whether the kernel lost records (ring-buffer reserve failures, all CPUs) since the last STATS frame. */
bool loss_unreported(const struct output *o, struct calitrace *skel, int ncpus)
{
	__u32 k = CT_CNT_RB_FAIL;
	__u64 *vals = calloc(ncpus, sizeof(__u64)), sum = 0;

	if (vals && !bpf_map_lookup_elem(bpf_map__fd(skel->maps.ct_counters), &k, vals))
		for (int c = 0; c < ncpus; c++)
			sum += vals[c];
	free(vals);
	return sum != o->rb_fail_reported;
}

static void put_ip(__u8 *dst, const char *a)
{
	if (inet_pton(AF_INET, a, dst) != 1)
		inet_pton(AF_INET6, a, dst);
}

/* The fields every golden record shares, then what makes each one its shape. */
static struct ct_event golden_base(__u8 kind, __u8 dir, __u8 proto, const char *src, const char *dst)
{
	struct ct_event e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.dir = dir;
	e.family = strchr(src, ':') ? 6 : 4;
	e.proto = proto;
	e.ts_ns = 0x0000000100000002ull;
	e.fingerprint = 0x0102030405060708ull;
	e.ifindex = 7;
	e.len = 84;
	e.ttl = 64;
	e.ip_id = 0x1234;
	e.nat_fp = 0x11223344u;
	e.fib_result = CT_FIB_NOT_RUN;
	put_ip(e.src, src);
	put_ip(e.dst, dst);
	return e;
}

/* docs/protocol.md "Golden records": one EVENTS frame with a record of each shape. */
int write_golden(struct output *o)
{
	struct ct_event e;

	/* 1. plain IPv4 egress: the base alone */
	e = golden_base(CT_KIND_PACKET, CT_DIR_EGRESS, 17, "10.233.101.222", "10.233.101.230");
	e.sport = 40000;
	e.dport = 53;
	event_add(o, &e);

	/* 2. ingress with the FIB's answer and a gateway; every base field distinctive */
	memset(&e, 0, sizeof(e));
	e.ts_ns = 0x000A0B0C0D0E0F10ull;
	e.fingerprint = 0x8877665544332211ull;
	e.ifindex = 0x00012345;
	e.len = 1514;
	e.mark = 0xCA11CA11u;
	e.anomalies = CT_ANOM_FRAGMENT | CT_ANOM_NON_FIRST_FRAG;
	e.ip_id = 0xBEEF;
	e.kind = CT_KIND_PACKET;
	e.dir = CT_DIR_INGRESS;
	e.family = 4;
	e.proto = 6;
	e.tcp_flags = 0x12;
	e.ttl = 63;
	e.icmp_type = 11;
	e.icmp_code = 12;
	e.sport = 0xABCD;
	e.dport = 443;
	e.icmp_id = 0x0D0E;
	e.icmp_seq = 0x0F10;
	e.vlan = 100;
	e.nat_fp = 0x5A4B3C2Du;
	put_ip(e.src, "10.233.101.222");
	put_ip(e.dst, "10.233.100.130");
	e.fib_result = 7;
	e.fib_ifindex = 0x0000ABCD;
	e.fib_family = 4;
	put_ip(e.fib_nexthop, "10.233.100.128");
	event_add(o, &e);

	/* 3. VXLAN at the uplink's ingress: the FIB answers for the outer header (local delivery) */
	e = golden_base(CT_KIND_PACKET, CT_DIR_INGRESS, 6, "10.233.101.222", "10.233.100.130");
	e.ifindex = 2;
	e.len = 134;
	e.sport = 43981;
	e.dport = 443;
	e.tcp_flags = 0x10;
	e.fib_result = 4;
	e.tun_family = 4;
	e.vni = 4096;
	e.tun_sport = 0xC0DE;
	e.tun_dport = 4789;
	put_ip(e.tun_src, "172.27.71.11");
	put_ip(e.tun_dst, "172.27.71.12");
	event_add(o, &e);

	/* 4. case mode, a case's first record (at the packet's second hop on the node) */
	e = golden_base(CT_KIND_PACKET, CT_DIR_EGRESS, 17, "10.233.101.222", "10.233.101.230");
	e.case_id = 0xC0FFEE0011223344ull;
	e.prev_case = 0x0BADCAFE55667788ull;
	e.epoch = 0x00070809;
	event_add(o, &e);

	/* 5. flow mode: a flush's counts (no fingerprint) */
	e = golden_base(CT_KIND_FLOW, CT_DIR_EGRESS, 17, "10.233.101.222", "10.233.101.230");
	e.fingerprint = 0;
	e.ip_id = 0;
	e.nat_fp = 0;
	e.packets = 7;
	e.bytes = 0x0000000100000203ull;
	event_add(o, &e);

	/* 6. a drop with the kernel's reason */
	e = golden_base(CT_KIND_DROP, CT_DIR_NONE, 17, "10.233.101.222", "10.233.101.230");
	e.drop_reason = 77;
	event_add(o, &e);

	/* 7. IPv6 (ICMPv6 echo request) at an egress hook */
	e = golden_base(CT_KIND_PACKET, CT_DIR_EGRESS, 58, "fd00:10:233:101::de", "fd00:10:233:100::82");
	e.len = 104;
	e.ip_id = 0;
	e.icmp_type = 128;
	e.icmp_id = 0x0D0E;
	e.icmp_seq = 3;
	event_add(o, &e);

	events_flush(o);
	out_flush(o);
	return o->broken ? 1 : 0;
}

/* The ring buffer's callback (ctx: the struct output). */
static int on_event(void *ctx, void *data, size_t size)
{
	struct output *o = ctx;

	/* Records are copied as the kernel wrote them; the size check only guards the frame's framing. */
	if (size >= sizeof(struct ct_rec) && size <= CT_REC_MAX_SIZE && ((const struct ct_rec *)data)->size == size)
		record_add(o, data, size);
	/* libbpf 1.1 keeps consuming while the kernel keeps producing; under a flood that would starve
	 * stdin and netlink (a new pod would wait). Stop after a round's worth; the record is consumed. */
	if (++o->consumed_in_round >= CONSUME_ROUND)
		return -EAGAIN;
	return 0;
}

struct ring_buffer *events_reader(struct output *o, int ringbuf_fd)
{
	return ring_buffer__new(ringbuf_fd, on_event, o, NULL);
}

/* One round of the event ring: -EAGAIN when it stopped at CONSUME_ROUND records (more may wait). */
int events_consume(struct output *o, struct ring_buffer *rb)
{
	o->consumed_in_round = 0;
	return ring_buffer__consume(rb);
}
