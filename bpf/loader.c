// SPDX-License-Identifier: Apache-2.0
/*
 * calitrace-loader: loads the tc tracer and the kfree_skb drop reporter, attaches the tracer to the
 * interfaces that match the patterns (following netlink link add/remove), and streams the ring buffer
 * as binary frames on stdout (docs/protocol.md). Commands arrive on stdin, one per line.
 *
 * Flow: open -> configure -> load -> attach -> poll; every exit goes through one cleanup path that
 * detaches what we attached (and only that).
 */
#define _GNU_SOURCE
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "event.h"
#include "maps.h"
#include "calitrace.skel.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "docs/protocol.md fixes little-endian integers; this host is big-endian"
#endif

/* libbpf 1.1 predates TCX: the kernel ABI values, defined here. */
#define CT_BPF_TCX_INGRESS 46
#define CT_BPF_TCX_EGRESS 47
#define CT_BPF_F_BEFORE (1U << 3)
/* The clsact fallback's dedicated slot: a filter here named ct_tc_* is ours (e.g. left by kill -9). */
#define CT_TC_HANDLE 0xca11
#define CT_TC_PRIO 1

struct flow_rep {
	__u64 packets, bytes;
};

enum attach_mode { ATTACH_AUTO, ATTACH_TCX, ATTACH_TC };

#define MAX_PATTERNS 32
#define MAX_LINE 1024
#define EV_BATCH 360            /* records per EVENTS frame: ~63 KiB */
#define OUT_FLUSH (64 * 1024)   /* write stdout once this much is buffered */
#define OUT_CAP (512 * 1024)
#define BATCH_WINDOW_NS 2000000ull /* the most a record waits for company before it is written */

static struct env {
	bool verbose;
	bool golden;
	bool no_defaults;
	bool no_drops;
	const char *netns;
	const char *filter;
	const char *show;
	int mode;
	enum attach_mode attach;
	int flush_ms;
	int stats_ms;
	int ringbuf_mb;
	int vxlan_port;
	char *patterns[MAX_PATTERNS];
	int npatterns;
} env = { .flush_ms = 1000, .stats_ms = 1000, .ringbuf_mb = 4, .vxlan_port = CT_VXLAN_PORT };

struct iface {
	int ifindex;
	char name[IF_NAMESIZE];
	int vxlan_link; /* vxlan.calico: underlay ifindex (0 unknown) */
	bool attached;
	bool failed; /* attach failed; not retried on every link event */
	bool seen;   /* listed by the resynchronising dump */
	int how;
	int role;
	int fd_in, fd_out; /* TCX link fds */
};

static struct state {
	struct calitrace *skel;
	struct bpf_link *drops_link;
	int nl_fd;
	__u32 nl_seq;
	__u32 resync_seq; /* sequence of a dump that replaces missed events (0: none running) */
	struct iface *ifs;
	int nifs, cap_ifs;
	int uplink; /* ifindex of vxlan.calico's underlay device */
	int ncpus;
	int mode;
	int rep_fd; /* user-space-only map: flow counters already reported */
	unsigned flushes;
	bool tcx_unavailable;
	/* output */
	unsigned char *out;
	size_t out_len;
	__u32 seq;
	bool out_broken;
	__u64 exit_deadline; /* while exiting: stop waiting for a stuck reader after this */
	struct ct_event batch[EV_BATCH];
	int nbatch;
	__u64 batch_since; /* when the oldest record of the batch arrived */
	/* counters for STATS */
	__u64 events_sent, frames_sent, flow_records;
	/* stdin */
	char line[MAX_LINE];
	size_t line_len;
	bool line_overflow;
} st = { .nl_fd = -1, .rep_fd = -1 };

static volatile sig_atomic_t exiting;

/* ---------------------------------------------------------------------------------------------- */
/* output */

static __u64 now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Writes everything, riding out EINTR, EAGAIN (a non-blocking pipe) and short writes. */
static void out_flush(void)
{
	size_t done = 0;

	while (done < st.out_len && !st.out_broken) {
		ssize_t n = write(STDOUT_FILENO, st.out + done, st.out_len - done);

		if (n > 0) {
			done += n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };

			if (exiting && !st.exit_deadline)
				st.exit_deadline = now_mono_ns() + 2000000000ull;
			if (st.exit_deadline && now_mono_ns() > st.exit_deadline) {
				st.out_broken = true;
				break;
			}
			poll(&p, 1, 100);
		} else if (n < 0 && errno == EINTR) {
			/* A signal asked us to exit while the reader is stuck: give it 2 s to drain, then
			 * stop writing so the detach is not held hostage by a full pipe. */
			if (exiting && !st.exit_deadline)
				st.exit_deadline = now_mono_ns() + 2000000000ull;
			if (st.exit_deadline && now_mono_ns() > st.exit_deadline)
				st.out_broken = true;
		} else {
			/* EPIPE (SIGPIPE is ignored) or worse: nobody reads us any more, so stop cleanly. */
			st.out_broken = true;
			exiting = 1;
		}
	}
	st.out_len = 0;
}

static void out_frame(__u16 type, const void *p1, size_t n1, const void *p2, size_t n2,
		      const void *p3, size_t n3)
{
	struct ct_frame_hdr h = {
		.magic = CT_FRAME_MAGIC,
		.version = CT_PROTOCOL_VERSION,
		.type = type,
		.length = (__u32)(n1 + n2 + n3),
		.seq = st.seq++,
	};
	size_t total = sizeof(h) + n1 + n2 + n3;

	if (st.out_len + total > OUT_CAP)
		out_flush();
	memcpy(st.out + st.out_len, &h, sizeof(h));
	st.out_len += sizeof(h);
	if (n1)
		memcpy(st.out + st.out_len, p1, n1);
	st.out_len += n1;
	if (n2)
		memcpy(st.out + st.out_len, p2, n2);
	st.out_len += n2;
	if (n3)
		memcpy(st.out + st.out_len, p3, n3);
	st.out_len += n3;
	st.frames_sent++;
	if (st.out_len >= OUT_FLUSH)
		out_flush();
}

static void events_flush(void)
{
	struct ct_events_hdr eh = { .count = st.nbatch, .record_size = sizeof(struct ct_event) };

	if (!st.nbatch)
		return;
	out_frame(CT_FRAME_EVENTS, &eh, sizeof(eh), st.batch, st.nbatch * sizeof(struct ct_event),
		  NULL, 0);
	st.events_sent += st.nbatch;
	st.nbatch = 0;
}

static void event_add(const struct ct_event *e)
{
	if (!st.nbatch)
		st.batch_since = now_mono_ns();
	st.batch[st.nbatch++] = *e;
	if (st.nbatch == EV_BATCH)
		events_flush();
}

static void send_error(int err, bool fatal, const char *fmt, ...)
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
	if (st.out) {
		events_flush();
		out_frame(CT_FRAME_ERROR, &h, sizeof(h), msg, n, NULL, 0);
	}
}

static void send_link(const struct iface *ifc, int state)
{
	struct ct_link l = {
		.ifindex = ifc->ifindex,
		.state = state,
		.how = state == CT_LINK_ATTACHED ? ifc->how : CT_HOW_NONE,
		.role = ifc->role,
		.name_len = strlen(ifc->name),
	};

	events_flush(); /* records before the link change stay before it */
	out_frame(CT_FRAME_LINK, &l, sizeof(l), ifc->name, l.name_len, NULL, 0);
}

static void send_ack(const char *line, int status, const char *msg)
{
	struct ct_ack a = { .status = status, .line_len = strlen(line), .msg_len = strlen(msg) };

	events_flush();
	out_frame(CT_FRAME_ACK, &a, sizeof(a), line, a.line_len, msg, a.msg_len);
}

static void send_stats(void)
{
	struct ct_stats s = { .ts_ns = now_mono_ns(), .ncpus = st.ncpus };
	__u64 totals[CT_CNT_MAX] = {}, *vals, *rb_fail;
	size_t sz = st.ncpus * sizeof(__u64);
	int fd = bpf_map__fd(st.skel->maps.ct_counters);

	vals = calloc(st.ncpus, sizeof(__u64));
	rb_fail = calloc(st.ncpus, sizeof(__u64));
	if (!vals || !rb_fail) {
		free(vals);
		free(rb_fail);
		return;
	}
	for (__u32 k = 0; k < CT_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < st.ncpus; c++) {
			totals[k] += vals[c];
			if (k == CT_CNT_RB_FAIL)
				rb_fail[c] = vals[c];
		}
	}
	events_flush();
	s.events_sent = st.events_sent;
	s.frames_sent = st.frames_sent;
	s.rb_fail_total = totals[CT_CNT_RB_FAIL];
	s.pkts_seen = totals[CT_CNT_SEEN];
	s.pkts_matched = totals[CT_CNT_MATCHED];
	s.drops_seen = totals[CT_CNT_DROPS];
	s.flow_records = st.flow_records;
	for (int i = 0; i < st.nifs; i++)
		s.links_attached += st.ifs[i].attached;
	out_frame(CT_FRAME_STATS, &s, sizeof(s), rb_fail, sz, NULL, 0);
	free(vals);
	free(rb_fail);
}

/* ---------------------------------------------------------------------------------------------- */
/* golden record: the fixed frame documented in docs/protocol.md */

static void put_ip4(__u8 *dst, const char *a)
{
	inet_pton(AF_INET, a, dst);
}

static int write_golden(void)
{
	struct ct_event e;

	memset(&e, 0, sizeof(e));
	e.ts_ns = 0x000A0B0C0D0E0F10ull;
	e.fingerprint = 0x8877665544332211ull;
	e.packets = 7;
	e.bytes = 0x0000000100000203ull;
	e.ifindex = 0x00012345;
	e.len = 1514;
	e.mark = 0xCA11CA11u;
	e.anomalies = CT_ANOM_FRAGMENT | CT_ANOM_NON_FIRST_FRAG;
	e.ip_id = 0xBEEF;
	e.drop_reason = 77;
	e.fib_ifindex = 0x0000ABCD;
	e.vni = 4096;
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
	e.fib_result = 7;
	e.fib_family = 4;
	e.tun_family = 4;
	e.vlan = 100;
	e.tun_sport = 0xC0DE;
	e.tun_dport = 4789;
	put_ip4(e.src, "10.233.101.222");
	put_ip4(e.dst, "10.233.100.130");
	put_ip4(e.fib_nexthop, "10.233.100.128");
	put_ip4(e.tun_src, "172.27.71.11");
	put_ip4(e.tun_dst, "172.27.71.12");
	event_add(&e);
	events_flush();
	out_flush();
	return st.out_broken ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* attaching */

static bool name_matches(const char *name)
{
	for (int i = 0; i < env.npatterns; i++)
		if (fnmatch(env.patterns[i], name, 0) == 0)
			return true;
	return false;
}

static int prog_name_is_ours(__u32 prog_id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(prog_id), ours;

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return 0;
	}
	close(fd);
	ours = !strcmp(info.name, "ct_tc_ingress") || !strcmp(info.name, "ct_tc_egress");
	return ours;
}

/* clsact fallback: our filter sits at CT_TC_HANDLE/CT_TC_PRIO. A filter already there that runs a
 * program named like ours is a leftover of a killed loader: remove it. Anything else is not ours and
 * makes us fail rather than replace it. The qdisc is never deleted (others may use it). */
static int tc_attach_one(int ifindex, enum bpf_tc_attach_point point, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = CT_TC_HANDLE, .priority = CT_TC_PRIO);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = CT_TC_HANDLE, .priority = CT_TC_PRIO, .prog_fd = prog_fd);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	if (bpf_tc_query(&hook, &q) == 0) {
		if (!prog_name_is_ours(q.prog_id))
			return -EBUSY;
		LIBBPF_OPTS(bpf_tc_opts, d, .handle = CT_TC_HANDLE, .priority = CT_TC_PRIO);
		err = bpf_tc_detach(&hook, &d);
		if (err)
			return err;
	}
	return bpf_tc_attach(&hook, &o);
}

static void tc_detach_one(int ifindex, enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = CT_TC_HANDLE, .priority = CT_TC_PRIO);

	/* Only if what sits in our slot is still our program. */
	if (bpf_tc_query(&hook, &q) == 0 && prog_name_is_ours(q.prog_id)) {
		LIBBPF_OPTS(bpf_tc_opts, d, .handle = CT_TC_HANDLE, .priority = CT_TC_PRIO);
		bpf_tc_detach(&hook, &d);
	}
}

static int attach_iface(struct iface *ifc)
{
	int in_fd = bpf_program__fd(st.skel->progs.ct_tc_ingress);
	int out_fd = bpf_program__fd(st.skel->progs.ct_tc_egress);
	int err = 0;

	if (env.attach != ATTACH_TC && !st.tcx_unavailable) {
		LIBBPF_OPTS(bpf_link_create_opts, o, .flags = CT_BPF_F_BEFORE);

		ifc->fd_in = bpf_link_create(in_fd, ifc->ifindex, CT_BPF_TCX_INGRESS, &o);
		if (ifc->fd_in >= 0) {
			ifc->fd_out = bpf_link_create(out_fd, ifc->ifindex, CT_BPF_TCX_EGRESS, &o);
			if (ifc->fd_out >= 0) {
				ifc->how = CT_HOW_TCX;
				return 0;
			}
			err = -errno;
			close(ifc->fd_in);
		} else {
			err = -errno;
		}
		ifc->fd_in = ifc->fd_out = -1;
		if (env.attach == ATTACH_TCX || err == -ENODEV || err == -ENXIO)
			return err;
		/* The kernel does not know the TCX attach types: use clsact from now on. */
		if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUP)
			st.tcx_unavailable = true;
		else
			return err;
	}
	err = tc_attach_one(ifc->ifindex, BPF_TC_INGRESS, in_fd);
	if (err)
		return err;
	err = tc_attach_one(ifc->ifindex, BPF_TC_EGRESS, out_fd);
	if (err) {
		tc_detach_one(ifc->ifindex, BPF_TC_INGRESS);
		return err;
	}
	ifc->how = CT_HOW_TC;
	return 0;
}

/* gone: the device no longer exists (nothing left to detach in the kernel). */
static void detach_iface(struct iface *ifc, bool gone)
{
	if (!ifc->attached)
		return;
	if (ifc->how == CT_HOW_TCX) {
		close(ifc->fd_in);
		close(ifc->fd_out);
		ifc->fd_in = ifc->fd_out = -1;
	} else if (ifc->how == CT_HOW_TC && !gone) {
		tc_detach_one(ifc->ifindex, BPF_TC_INGRESS);
		tc_detach_one(ifc->ifindex, BPF_TC_EGRESS);
	}
	ifc->attached = false;
	send_link(ifc, CT_LINK_DETACHED);
}

static void evaluate_iface(struct iface *ifc)
{
	int role = 0;
	int err;

	if (name_matches(ifc->name))
		role |= CT_ROLE_PATTERN;
	if (st.uplink && ifc->ifindex == st.uplink)
		role |= CT_ROLE_UPLINK;
	if (!role) {
		detach_iface(ifc, false);
		return;
	}
	if (ifc->attached) {
		if (role != ifc->role) {
			ifc->role = role;
			send_link(ifc, CT_LINK_ATTACHED);
		}
		return;
	}
	if (ifc->failed)
		return; /* tried already; a rename or an attach/detach command tries again */
	ifc->role = role;
	err = attach_iface(ifc);
	if (err == -ENODEV || err == -ENXIO)
		return; /* the device vanished while we attached: its RTM_DELLINK follows */
	if (err) {
		ifc->failed = true;
		send_error(err, false, "attach to %s (ifindex %d) failed: %s%s", ifc->name, ifc->ifindex,
			   strerror(-err),
			   err == -EBUSY ? " (a filter that is not ours holds handle 0xca11 prio 1)" : "");
		send_link(ifc, CT_LINK_FAILED);
		return;
	}
	ifc->attached = true;
	send_link(ifc, CT_LINK_ATTACHED);
}

static struct iface *iface_find(int ifindex)
{
	for (int i = 0; i < st.nifs; i++)
		if (st.ifs[i].ifindex == ifindex)
			return &st.ifs[i];
	return NULL;
}

static struct iface *iface_add(int ifindex)
{
	struct iface *ifc;

	if (st.nifs == st.cap_ifs) {
		int cap = st.cap_ifs ? st.cap_ifs * 2 : 64;
		struct iface *n = realloc(st.ifs, cap * sizeof(*n));

		if (!n)
			return NULL;
		st.ifs = n;
		st.cap_ifs = cap;
	}
	ifc = &st.ifs[st.nifs++];
	memset(ifc, 0, sizeof(*ifc));
	ifc->ifindex = ifindex;
	ifc->fd_in = ifc->fd_out = -1;
	return ifc;
}

static void iface_remove(struct iface *ifc)
{
	detach_iface(ifc, true);
	*ifc = st.ifs[--st.nifs];
}

static void evaluate_all(void)
{
	for (int i = 0; i < st.nifs; i++) {
		st.ifs[i].failed = false;
		evaluate_iface(&st.ifs[i]);
	}
}

/* vxlan.calico without IFLA_VXLAN_LINK: the uplink is the device holding the VXLAN local address. */
static int ifindex_of_addr(const struct in_addr *a)
{
	struct ifaddrs *ifa, *p;
	int idx = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (p = ifa; p; p = p->ifa_next) {
		if (p->ifa_addr && p->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)p->ifa_addr)->sin_addr.s_addr == a->s_addr) {
			idx = if_nametoindex(p->ifa_name);
			break;
		}
	}
	freeifaddrs(ifa);
	return idx;
}

static bool is_calico_vxlan(const char *name)
{
	return !strcmp(name, "vxlan.calico") || !strcmp(name, "vxlan-v6.calico");
}

static void set_uplink(int ifindex)
{
	struct iface *old, *new;

	if (ifindex == st.uplink)
		return;
	old = iface_find(st.uplink);
	st.uplink = ifindex;
	if (old)
		evaluate_iface(old);
	new = iface_find(ifindex);
	if (new)
		evaluate_iface(new);
}

/* ---------------------------------------------------------------------------------------------- */
/* netlink: initial dump, then link add/remove */

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int rcvbuf = 4 << 20;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int nl_dump_links(void)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = ++st.nl_seq },
		.ifi = { .ifi_family = AF_UNSPEC },
	};

	if (send(st.nl_fd, &req, sizeof(req), 0) < 0)
		return -errno;
	return 0;
}

static void nl_parse_linkinfo(struct rtattr *li, int *vxlan_link, struct in_addr *local, bool *has_local)
{
	int len = RTA_PAYLOAD(li);

	for (struct rtattr *a = RTA_DATA(li); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != IFLA_INFO_DATA)
			continue;
		int dlen = RTA_PAYLOAD(a);

		for (struct rtattr *d = RTA_DATA(a); RTA_OK(d, dlen); d = RTA_NEXT(d, dlen)) {
			if (d->rta_type == IFLA_VXLAN_LINK && RTA_PAYLOAD(d) >= 4)
				*vxlan_link = *(__u32 *)RTA_DATA(d);
			else if (d->rta_type == IFLA_VXLAN_LOCAL && RTA_PAYLOAD(d) >= 4) {
				memcpy(local, RTA_DATA(d), 4);
				*has_local = true;
			}
		}
	}
}

static void nl_handle_link(struct nlmsghdr *nh)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
	const char *name = NULL;
	struct rtattr *linkinfo = NULL;
	struct iface *ifc;

	if (len < 0)
		return;
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_IFNAME)
			name = RTA_DATA(a);
		else if (a->rta_type == IFLA_LINKINFO)
			linkinfo = a;
	}
	ifc = iface_find(ifi->ifi_index);
	if (ifc)
		ifc->seen = true;
	if (nh->nlmsg_type == RTM_DELLINK) {
		if (ifc) {
			bool was_vxlan = ifc->vxlan_link && !strcmp(ifc->name, "vxlan.calico");

			if (ifc->ifindex == st.uplink)
				st.uplink = 0;
			iface_remove(ifc);
			if (was_vxlan)
				set_uplink(0); /* no vxlan.calico, no uplink: detach it unless a pattern matches */
		}
		return;
	}
	if (!name)
		return;
	if (!ifc) {
		ifc = iface_add(ifi->ifi_index);
		if (!ifc)
			return;
		ifc->seen = true;
	}
	if (strncmp(ifc->name, name, IF_NAMESIZE)) {
		snprintf(ifc->name, sizeof(ifc->name), "%s", name);
		ifc->failed = false;
		if (ifc->attached)
			send_link(ifc, CT_LINK_ATTACHED); /* renamed: tell the collector the new name */
	}
	/* The uplink is only looked for while the default patterns (Calico's devices) are in use. */
	if (!env.no_defaults && is_calico_vxlan(ifc->name) && linkinfo) {
		int vlink = 0;
		struct in_addr local = { 0 };
		bool has_local = false;

		nl_parse_linkinfo(linkinfo, &vlink, &local, &has_local);
		if (!vlink && has_local)
			vlink = ifindex_of_addr(&local);
		ifc->vxlan_link = vlink;
		if (vlink && !strcmp(ifc->name, "vxlan.calico"))
			set_uplink(vlink);
	}
	evaluate_iface(ifc);
}

/* Returns 1 when the dump with sequence `until_seq` is complete. */
static int nl_read(__u32 until_seq)
{
	char buf[64 * 1024];
	int done = 0;

	for (;;) {
		ssize_t n = recv(st.nl_fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* We missed link events: resynchronise with a fresh dump, and at its end
				 * forget the devices it did not list (their RTM_DELLINK was lost). */
				for (int i = 0; i < st.nifs; i++)
					st.ifs[i].seen = false;
				if (nl_dump_links() == 0)
					st.resync_seq = st.nl_seq;
				continue;
			}
			return done; /* EAGAIN: drained */
		}
		for (struct nlmsghdr *nh = (void *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
				if (until_seq && nh->nlmsg_seq == until_seq)
					done = 1;
				if (st.resync_seq && nh->nlmsg_seq == st.resync_seq) {
					st.resync_seq = 0;
					for (int i = st.nifs - 1; i >= 0; i--)
						if (!st.ifs[i].seen)
							iface_remove(&st.ifs[i]);
				}
				continue;
			}
			if (nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK)
				nl_handle_link(nh);
		}
		if (done)
			return done;
	}
}

/* ---------------------------------------------------------------------------------------------- */
/* ring buffer and flow flushing */

static int on_event(void *ctx, void *data, size_t size)
{
	if (size >= sizeof(struct ct_event))
		event_add(data);
	return 0;
}

static void flow_flush(void)
{
	int flows = bpf_map__fd(st.skel->maps.ct_flows);
	struct ct_flow_key key, next, *prev = NULL;
	struct ct_flow_val v;
	struct flow_rep r;

	while (bpf_map_get_next_key(flows, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(flows, &key, &v))
			continue;
		if (bpf_map_lookup_elem(st.rep_fd, &key, &r) || r.packets > v.packets)
			memset(&r, 0, sizeof(r)); /* new, or evicted and re-created by the LRU */
		if (v.packets == r.packets)
			continue;

		struct ct_event e = {
			.ts_ns = v.last_ns,
			.packets = v.packets - r.packets,
			.bytes = v.bytes - r.bytes,
			.ifindex = key.ifindex,
			.kind = CT_KIND_FLOW,
			.dir = key.dir,
			.family = key.family,
			.proto = key.proto,
			.fib_result = CT_FIB_NOT_RUN,
		};
		if (key.proto == 1 || key.proto == 58)
			e.icmp_id = key.sport;
		else
			e.sport = key.sport, e.dport = key.dport;
		memcpy(e.src, key.src, 16);
		memcpy(e.dst, key.dst, 16);
		event_add(&e);
		st.flow_records++;
		r.packets = v.packets;
		r.bytes = v.bytes;
		bpf_map_update_elem(st.rep_fd, &key, &r, BPF_ANY);
	}
	/* Now and then forget the report state of flows the LRU has evicted (collected first: deleting
	 * the iteration cursor would restart the walk). */
	if (++st.flushes % 16 == 0) {
		struct ct_flow_key *stale = malloc(sizeof(*stale) * 4096);
		int nstale = 0;

		prev = NULL;
		while (stale && nstale < 4096 && bpf_map_get_next_key(st.rep_fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(flows, &key, &v) && errno == ENOENT)
				stale[nstale++] = key;
		}
		for (int i = 0; i < nstale; i++)
			bpf_map_delete_elem(st.rep_fd, &stale[i]);
		free(stale);
	}
}

static int parse_cidr(const char *s, struct ct_lpm_key *k)
{
	char buf[64];
	char *slash;
	long plen = -1;
	struct in_addr a4;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash) {
		char *end;

		*slash = 0;
		plen = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1)
			return -EINVAL;
	}
	memset(k, 0, sizeof(*k));
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		if (plen < 0)
			plen = 32;
		if (plen > 32)
			return -EINVAL;
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(&k->addr[12], &a4, 4);
		k->prefixlen = 96 + plen;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, k->addr) == 1) {
		if (plen < 0)
			plen = 128;
		if (plen > 128)
			return -EINVAL;
		k->prefixlen = plen;
		return 0;
	}
	return -EINVAL;
}

static int parse_port(const char *s, __u16 *port)
{
	char *end;
	long v = s ? strtol(s, &end, 10) : -1;

	if (!s || *end || v < 0 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

static int parse_proto(const char *s, __u8 *proto)
{
	static const struct { const char *name; __u8 num; } names[] = {
		{ "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmpv6", 58 }, { "icmp6", 58 },
	};
	char *end;
	long v;

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name)) {
			*proto = names[i].num;
			return 0;
		}
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 255)
		return -EINVAL;
	*proto = v;
	return 0;
}

static void lpm_clear(int fd)
{
	struct ct_lpm_key k;

	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		if (bpf_map_delete_elem(fd, &k))
			break;
}

static int settings_get(struct ct_settings *s)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(bpf_map__fd(st.skel->maps.ct_settings), &zero, s);
}

static int settings_put(const struct ct_settings *s)
{
	__u32 zero = 0;

	return bpf_map_update_elem(bpf_map__fd(st.skel->maps.ct_settings), &zero, s, BPF_ANY);
}

/* `filter …`: parsed completely before anything changes, so a bad filter leaves the old one. */
static int cmd_filter(char *args, char *msg, size_t msglen)
{
	struct ct_lpm_key keys[3][16];
	int nkeys[3] = {};
	struct ct_settings s;
	char *save = NULL, *w;
	int fds[3] = { bpf_map__fd(st.skel->maps.ct_filter_src), bpf_map__fd(st.skel->maps.ct_filter_dst),
		       bpf_map__fd(st.skel->maps.ct_filter_host) };
	__u8 one = 1;

	if (settings_get(&s))
		return -errno;
	s.filter = 0;
	s.proto = 0;
	s.port = s.sport = s.dport = 0;
	for (w = strtok_r(args, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		char *val;
		int kind = -1;

		if (!strcmp(w, "clear"))
			continue;
		val = strtok_r(NULL, " \t", &save);
		if (!val) {
			snprintf(msg, msglen, "'%s' needs a value", w);
			return -EINVAL;
		}
		if (!strcmp(w, "src"))
			kind = 0;
		else if (!strcmp(w, "dst"))
			kind = 1;
		else if (!strcmp(w, "host"))
			kind = 2;
		if (kind >= 0) {
			if (nkeys[kind] == 16) {
				snprintf(msg, msglen, "at most 16 '%s' CIDRs", w);
				return -E2BIG;
			}
			if (parse_cidr(val, &keys[kind][nkeys[kind]])) {
				snprintf(msg, msglen, "'%s' is not an IPv4/IPv6 address or CIDR", val);
				return -EINVAL;
			}
			nkeys[kind]++;
			s.filter |= kind == 0 ? CT_F_SRC : kind == 1 ? CT_F_DST : CT_F_HOST;
		} else if (!strcmp(w, "proto")) {
			if (parse_proto(val, &s.proto)) {
				snprintf(msg, msglen, "'%s' is not tcp, udp, icmp, icmpv6 or 0-255", val);
				return -EINVAL;
			}
			s.filter |= CT_F_PROTO;
		} else if (!strcmp(w, "port") || !strcmp(w, "sport") || !strcmp(w, "dport")) {
			__u16 *p = w[0] == 'p' ? &s.port : w[0] == 's' ? &s.sport : &s.dport;

			if (parse_port(val, p)) {
				snprintf(msg, msglen, "'%s' is not a port (0-65535)", val);
				return -EINVAL;
			}
			s.filter |= w[0] == 'p' ? CT_F_PORT : w[0] == 's' ? CT_F_SPORT : CT_F_DPORT;
		} else {
			snprintf(msg, msglen,
				 "unknown filter word '%s' (use src, dst, host, proto, port, sport, dport, clear)", w);
			return -EINVAL;
		}
	}
	/* Switch the filter off while the tries change, then on with the new settings. */
	{
		struct ct_settings off = s;

		off.filter = 0;
		settings_put(&off);
	}
	for (int k = 0; k < 3; k++) {
		lpm_clear(fds[k]);
		for (int i = 0; i < nkeys[k]; i++)
			if (bpf_map_update_elem(fds[k], &keys[k][i], &one, BPF_ANY)) {
				snprintf(msg, msglen, "updating the CIDR filter map: %s", strerror(errno));
				return -errno;
			}
	}
	if (settings_put(&s))
		return -errno;
	return 0;
}

static int cmd_mode(const char *arg, char *msg, size_t msglen)
{
	struct ct_settings s;

	if (!arg || (strcmp(arg, "packet") && strcmp(arg, "flow"))) {
		snprintf(msg, msglen, "mode is 'packet' or 'flow'");
		return -EINVAL;
	}
	if (settings_get(&s))
		return -errno;
	s.mode = !strcmp(arg, "flow");
	if (settings_put(&s))
		return -errno;
	if (st.mode == CT_MODE_FLOW && s.mode != CT_MODE_FLOW)
		flow_flush(); /* the counts since the last flush are not lost by leaving flow mode */
	st.mode = s.mode;
	return 0;
}

static int pattern_add(const char *p)
{
	for (int i = 0; i < env.npatterns; i++)
		if (!strcmp(env.patterns[i], p))
			return 0;
	if (env.npatterns == MAX_PATTERNS)
		return -E2BIG;
	env.patterns[env.npatterns] = strdup(p);
	if (!env.patterns[env.npatterns])
		return -ENOMEM;
	env.npatterns++;
	return 0;
}

static int pattern_del(const char *p)
{
	for (int i = 0; i < env.npatterns; i++)
		if (!strcmp(env.patterns[i], p)) {
			free(env.patterns[i]);
			env.patterns[i] = env.patterns[--env.npatterns];
			return 0;
		}
	return -ENOENT;
}

static void handle_command(char *line)
{
	char copy[MAX_LINE], msg[256] = "";
	char *save = NULL, *cmd, *arg;
	int status = 0;

	snprintf(copy, sizeof(copy), "%s", line);
	cmd = strtok_r(line, " \t", &save);
	if (!cmd)
		return; /* blank line */
	if (!strcmp(cmd, "filter")) {
		status = cmd_filter(save ? save : (char *)"", msg, sizeof(msg));
	} else if (!strcmp(cmd, "mode")) {
		status = cmd_mode(strtok_r(NULL, " \t", &save), msg, sizeof(msg));
	} else if (!strcmp(cmd, "stats")) {
		send_stats();
	} else if (!strcmp(cmd, "links")) {
		for (int i = 0; i < st.nifs; i++)
			if (st.ifs[i].attached)
				send_link(&st.ifs[i], CT_LINK_ATTACHED);
	} else if (!strcmp(cmd, "attach") || !strcmp(cmd, "detach")) {
		arg = strtok_r(NULL, " \t", &save);
		if (!arg) {
			snprintf(msg, sizeof(msg), "usage: %s PATTERN", cmd);
			status = -EINVAL;
		} else {
			status = cmd[0] == 'a' ? pattern_add(arg) : pattern_del(arg);
			if (status)
				snprintf(msg, sizeof(msg), "%s", strerror(-status));
			else
				evaluate_all();
		}
	} else if (!strcmp(cmd, "quit")) {
		exiting = 1;
	} else {
		snprintf(msg, sizeof(msg),
			 "unknown command '%s' (filter, mode, stats, attach, detach, links, quit)", cmd);
		status = -EINVAL;
	}
	if (status && !msg[0])
		snprintf(msg, sizeof(msg), "%s", strerror(-status));
	send_ack(copy, status, msg);
}

/* Returns false at EOF. */
static bool read_stdin(void)
{
	char buf[4096];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n == 0)
		return false;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			st.line[st.line_len] = 0;
			if (st.line_overflow)
				send_ack("", -E2BIG, "command line longer than 1023 bytes ignored");
			else
				handle_command(st.line);
			st.line_len = 0;
			st.line_overflow = false;
		} else if (st.line_len < MAX_LINE - 1) {
			st.line[st.line_len++] = buf[i] == '\r' ? ' ' : buf[i];
		} else {
			st.line_overflow = true;
		}
	}
	return true;
}

/* ---------------------------------------------------------------------------------------------- */
/* start-up */

/* The drop-reason table for HELLO, built from the kernel's BTF on a thread while libbpf loads the
 * programs (each vmlinux BTF parse takes most of a second on a busy 2-core node). */
struct reason_table {
	pthread_t thread;
	bool started;
	unsigned char *bytes; /* HELLO entries: u32 value, u16 name_len, name */
	size_t len;
	__u32 count;
	int err;
};

static void *reason_table_build(void *arg)
{
	struct reason_table *rt = arg;
	struct btf *btf = btf__load_vmlinux_btf();
	__s32 id;
	const struct btf_type *t;
	const struct btf_enum *ev;
	int n;

	if (!btf) {
		rt->err = -errno;
		return NULL;
	}
	id = btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	n = t ? btf_vlen(t) : 0;
	ev = t ? btf_enum(t) : NULL;
	rt->bytes = malloc(n * (6 + 64) + 1);
	for (int i = 0; rt->bytes && i < n; i++) {
		const char *name = btf__name_by_offset(btf, ev[i].name_off);
		__u32 val = ev[i].val;
		__u16 len;

		if (!name)
			continue;
		if (!strncmp(name, "SKB_DROP_REASON_", 16))
			name += 16;
		len = strnlen(name, 64);
		memcpy(rt->bytes + rt->len, &val, 4);
		memcpy(rt->bytes + rt->len + 4, &len, 2);
		memcpy(rt->bytes + rt->len + 6, name, len);
		rt->len += 6 + len;
		rt->count++;
	}
	if (!t)
		rt->err = -ENOENT;
	btf__free(btf);
	return NULL;
}

static int send_hello(__u32 netns_ino, struct reason_table *rt)
{
	struct ct_hello h = {
		.protocol_version = CT_PROTOCOL_VERSION,
		.record_size = sizeof(struct ct_event),
		.ncpus = st.ncpus,
		.pid = getpid(),
		.mode = env.mode,
		.netns_ino = netns_ino,
	};
	struct timespec rtc, mono;
	struct utsname u;

	clock_gettime(CLOCK_REALTIME, &rtc);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	h.realtime_offset_ns = ((__s64)rtc.tv_sec - mono.tv_sec) * 1000000000ll + (rtc.tv_nsec - mono.tv_nsec);
	h.features = CT_FEAT_FIB | CT_FEAT_FLOW_MODE | (st.drops_link ? CT_FEAT_DROPS : 0) |
		     (env.attach == ATTACH_TC ? CT_FEAT_CLSACT : CT_FEAT_TCX);
	uname(&u);
	h.kernel_release_len = strlen(u.release);
	if (rt->started) {
		pthread_join(rt->thread, NULL);
		rt->started = false;
	}
	h.reason_count = rt->count;
	out_frame(CT_FRAME_HELLO, &h, sizeof(h), u.release, h.kernel_release_len, rt->bytes, rt->len);
	if (rt->err)
		send_error(rt->err, false,
			   "no enum skb_drop_reason in the kernel BTF (/sys/kernel/btf/vmlinux): drop reasons will have no names");
	out_flush();
	return 0;
}

/* --show IFNAME: what is attached to the device's TCX hooks and in our clsact slot, as text lines
 * ("tcx ingress ID NAME", "tc egress ID NAME"). Lets tests and operators check that nothing of ours
 * stayed behind (bpftool 7.1 does not know TCX yet). */
static int show_iface(const char *name)
{
	static const struct { int type; const char *dir; } tcx[] = {
		{ CT_BPF_TCX_INGRESS, "ingress" }, { CT_BPF_TCX_EGRESS, "egress" },
	};
	static const struct { enum bpf_tc_attach_point point; const char *dir; } tc[] = {
		{ BPF_TC_INGRESS, "ingress" }, { BPF_TC_EGRESS, "egress" },
	};
	int ifindex = if_nametoindex(name);

	if (!ifindex) {
		fprintf(stderr, "calitrace-loader: no interface '%s' in this network namespace (see `ip link`)\n", name);
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		__u32 ids[64], cnt = 64, flags = 0;

		if (bpf_prog_query(ifindex, tcx[i].type, 0, &flags, ids, &cnt)) {
			printf("tcx %s unavailable %s\n", tcx[i].dir, strerror(errno));
			continue;
		}
		for (__u32 j = 0; j < cnt; j++) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			int fd = bpf_prog_get_fd_by_id(ids[j]);

			if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
				printf("tcx %s %u %s\n", tcx[i].dir, ids[j], info.name);
			if (fd >= 0)
				close(fd);
		}
	}
	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = tc[i].point);
		LIBBPF_OPTS(bpf_tc_opts, q, .handle = CT_TC_HANDLE, .priority = CT_TC_PRIO);
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd;

		if (bpf_tc_query(&hook, &q))
			continue;
		fd = bpf_prog_get_fd_by_id(q.prog_id);
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			printf("tc %s %u %s\n", tc[i].dir, q.prog_id, info.name);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	/* Expected answers to our own probes (query of an empty tc slot, clsact already present). */
	if (!env.verbose && strstr(fmt, "Kernel error message"))
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void on_signal(int sig)
{
	exiting = 1;
}

static const char doc[] =
	"calitrace-loader: trace packets on Calico interfaces with tc/eBPF.\n"
	"\n"
	"Attaches to cali*, vxlan.calico and its underlay device (plus --iface\n"
	"patterns), follows interfaces as they come and go, and writes the binary\n"
	"frames of docs/protocol.md to stdout. Commands on stdin: filter, mode,\n"
	"stats, attach, detach, links, quit. stdin EOF, SIGINT or SIGTERM detach\n"
	"everything and exit 0. Normally spawned by `calitrace trace`.\n"
	"\v"
	"EXAMPLES:\n"
	"  # raw frames from the default interfaces\n"
	"  calitrace-loader | xxd | head\n"
	"  # trace inside the lab's node1 namespace, one record per flow\n"
	"  calitrace-loader --netns ct-node1 --mode flow\n"
	"  # only ICMP to or from 10/8 on veth* interfaces\n"
	"  calitrace-loader --no-default-ifaces -i 'veth*' \\\n"
	"      --filter 'host 10.0.0.0/8 proto icmp'\n"
	"  # change the filter while running (one command per stdin line)\n"
	"  echo 'filter dst 10.233.101.224 port 80' | calitrace-loader\n"
	"  # what is attached to a device (nothing of ours after we exit)\n"
	"  calitrace-loader --netns ct-node1 --show cali11299111064\n"
	"  # the fixed golden record documented in docs/protocol.md\n"
	"  calitrace-loader --golden | xxd\n";

enum {
	OPT_NETNS = 1000, OPT_NO_DEFAULTS, OPT_MODE, OPT_FILTER, OPT_ATTACH, OPT_FLUSH, OPT_STATS,
	OPT_RINGBUF, OPT_NO_DROPS, OPT_GOLDEN, OPT_SHOW, OPT_VXLAN_PORT,
};

static const struct argp_option opts[] = {
	{ "verbose", 'v', NULL, 0, "libbpf debug output on stderr", 0 },
	{ "netns", OPT_NETNS, "NAME", 0, "enter /var/run/netns/NAME before anything else", 0 },
	{ "iface", 'i', "PATTERN", 0, "also attach to interfaces matching this glob (repeatable)", 0 },
	{ "no-default-ifaces", OPT_NO_DEFAULTS, NULL, 0, "drop the default patterns and the uplink", 0 },
	{ "mode", OPT_MODE, "packet|flow", 0, "start mode (default packet)", 0 },
	{ "filter", OPT_FILTER, "FILTER", 0, "start filter, same words as the stdin 'filter' command", 0 },
	{ "attach-mode", OPT_ATTACH, "auto|tcx|tc", 0, "TCX, clsact fallback, or auto (default)", 0 },
	{ "flush-ms", OPT_FLUSH, "MS", 0, "flow mode: counter flush interval (default 1000)", 0 },
	{ "stats-ms", OPT_STATS, "MS", 0, "STATS frame interval, 0 = only on demand (default 1000)", 0 },
	{ "ringbuf-mb", OPT_RINGBUF, "MB", 0, "ring buffer size, a power of 2 (default 4)", 0 },
	{ "vxlan-port", OPT_VXLAN_PORT, "PORT", 0, "UDP port decoded as VXLAN (default 4789)", 0 },
	{ "no-drops", OPT_NO_DROPS, NULL, 0, "do not attach the kfree_skb drop reporter", 0 },
	{ "golden", OPT_GOLDEN, NULL, 0, "write the golden EVENTS frame (docs/protocol.md) and exit", 0 },
	{ "show", OPT_SHOW, "IFNAME", 0,
	  "print the programs on IFNAME's TCX hooks and in our clsact slot (text), then exit", 0 },
	{},
};

static long parse_num(const char *arg, long lo, long hi, struct argp_state *state, const char *what)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end || end == arg || v < lo || v > hi)
		argp_error(state, "%s must be a number from %ld to %ld, not '%s'", what, lo, hi, arg);
	return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'v': env.verbose = true; break;
	case OPT_NETNS: env.netns = arg; break;
	case 'i':
		if (pattern_add(arg))
			argp_error(state, "too many --iface patterns (at most %d)", MAX_PATTERNS);
		break;
	case OPT_NO_DEFAULTS: env.no_defaults = true; break;
	case OPT_MODE:
		if (strcmp(arg, "packet") && strcmp(arg, "flow"))
			argp_error(state, "--mode is 'packet' or 'flow', not '%s'", arg);
		env.mode = !strcmp(arg, "flow");
		break;
	case OPT_FILTER: env.filter = arg; break;
	case OPT_ATTACH:
		if (!strcmp(arg, "auto")) env.attach = ATTACH_AUTO;
		else if (!strcmp(arg, "tcx")) env.attach = ATTACH_TCX;
		else if (!strcmp(arg, "tc")) env.attach = ATTACH_TC;
		else argp_error(state, "--attach-mode is auto, tcx or tc, not '%s'", arg);
		break;
	case OPT_FLUSH: env.flush_ms = parse_num(arg, 10, 3600000, state, "--flush-ms"); break;
	case OPT_STATS: env.stats_ms = parse_num(arg, 0, 3600000, state, "--stats-ms"); break;
	case OPT_RINGBUF:
		env.ringbuf_mb = parse_num(arg, 1, 1024, state, "--ringbuf-mb");
		if (env.ringbuf_mb & (env.ringbuf_mb - 1))
			argp_error(state, "--ringbuf-mb must be a power of 2");
		break;
	case OPT_NO_DROPS: env.no_drops = true; break;
	case OPT_VXLAN_PORT: env.vxlan_port = parse_num(arg, 1, 65535, state, "--vxlan-port"); break;
	case OPT_GOLDEN: env.golden = true; break;
	case OPT_SHOW: env.show = arg; break;
	case ARGP_KEY_ARG: argp_usage(state); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static int enter_netns(const char *name)
{
	char path[256];
	int fd, err = 0;

	if (strchr(name, '/')) {
		fprintf(stderr, "calitrace-loader: --netns takes a name from /var/run/netns, not a path\n");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "calitrace-loader: cannot open %s: %s (list namespaces with `ip netns`)\n",
			path, strerror(errno));
		return err;
	}
	if (setns(fd, CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "calitrace-loader: setns(%s): %s (needs root / CAP_SYS_ADMIN)\n", path,
			strerror(errno));
	}
	close(fd);
	return err;
}

/* How long poll may sleep: until the next STATS frame, flow flush or batch deadline. */
static struct timespec poll_timeout(__u64 now, __u64 next_stats, __u64 next_flush)
{
	__u64 next = now + 1000000000ull;
	struct timespec ts;

	if (env.stats_ms && next_stats < next)
		next = next_stats;
	if (st.mode == 1 && next_flush < next)
		next = next_flush;
	if (st.nbatch && st.batch_since + BATCH_WINDOW_NS < next)
		next = st.batch_since + BATCH_WINDOW_NS;
	next = next > now ? next - now : 0;
	ts.tv_sec = next / 1000000000ull;
	ts.tv_nsec = next % 1000000000ull;
	return ts;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { .options = opts, .parser = parse_arg, .doc = doc };
	struct ring_buffer *rb = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct stat ns_st;
	struct reason_table reasons = {};
	__u64 next_stats, next_flush;
	int err, rc = 1;
	bool stdin_open = true;

	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: a blocked poll/write returns and we exit */
	sigaction(SIGTERM, &sa, NULL);
	st.out = malloc(OUT_CAP);
	if (!st.out)
		return 1;
	if (!env.show && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "calitrace-loader: stdout is a terminal, and the loader writes binary frames.\n"
				"Pipe it (calitrace-loader | xxd) or run `calitrace trace` for readable output.\n");
		return 2;
	}
	if (env.golden)
		return write_golden();

	if (env.netns && enter_netns(env.netns))
		return 1;
	if (env.show) {
		libbpf_set_print(libbpf_print);
		return show_iface(env.show);
	}
	if (!env.no_defaults) {
		pattern_add("cali*");
		pattern_add("vxlan.calico");
	}
	if (stat("/proc/self/ns/net", &ns_st)) {
		fprintf(stderr, "calitrace-loader: stat /proc/self/ns/net: %s\n", strerror(errno));
		return 1;
	}
	libbpf_set_print(libbpf_print);
	st.ncpus = libbpf_num_possible_cpus();
	reasons.started = pthread_create(&reasons.thread, NULL, reason_table_build, &reasons) == 0;
	st.mode = env.mode;

	/* open -> configure -> load */
	st.skel = calitrace__open();
	if (!st.skel) {
		send_error(-errno, true, "opening the BPF object failed: %s", strerror(errno));
		goto cleanup;
	}
	st.skel->rodata->ct_cfg.netns_ino = (__u32)ns_st.st_ino;
	st.skel->rodata->ct_cfg.fib_lookup = 1;
	st.skel->rodata->ct_cfg.vxlan_port = env.vxlan_port;
	bpf_map__set_max_entries(st.skel->maps.ct_events, (__u32)env.ringbuf_mb << 20);
	if (env.no_drops)
		bpf_program__set_autoload(st.skel->progs.ct_kfree_skb, false);
	err = calitrace__load(st.skel);
	if (err) {
		send_error(err, true,
			   "loading the BPF programs failed: %s (run as root; -v shows the verifier log)",
			   strerror(-err));
		goto cleanup;
	}
	st.rep_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ct_flow_rep", sizeof(struct ct_flow_key),
				   sizeof(struct flow_rep), 65536, NULL);
	if (st.rep_fd < 0) {
		send_error(-errno, true, "creating the flow report map failed: %s", strerror(errno));
		goto cleanup;
	}
	{
		struct ct_settings s = { .mode = env.mode };

		settings_put(&s);
	}
	if (env.filter) {
		char f[MAX_LINE], msg[256] = "";

		snprintf(f, sizeof(f), "%s", env.filter);
		err = cmd_filter(f, msg, sizeof(msg));
		if (err) {
			send_error(err, true, "--filter: %s", msg[0] ? msg : strerror(-err));
			goto cleanup;
		}
	}

	/* attach: drops first (HELLO says whether that worked), then the interfaces of the netlink dump */
	if (!env.no_drops) {
		st.drops_link = bpf_program__attach(st.skel->progs.ct_kfree_skb);
		err = st.drops_link ? 0 : -errno;
	}
	send_hello((__u32)ns_st.st_ino, &reasons);
	if (!env.no_drops && !st.drops_link)
		send_error(err, false, "attaching tp_btf/kfree_skb failed: %s (drops will not be reported)",
			   strerror(-err));
	rb = ring_buffer__new(bpf_map__fd(st.skel->maps.ct_events), on_event, NULL, NULL);
	if (!rb) {
		send_error(-errno, true, "creating the ring buffer reader failed: %s", strerror(errno));
		goto cleanup;
	}
	st.nl_fd = nl_open();
	if (st.nl_fd < 0) {
		send_error(st.nl_fd, true, "opening rtnetlink failed: %s", strerror(-st.nl_fd));
		goto cleanup;
	}
	if ((err = nl_dump_links())) {
		send_error(err, true, "netlink link dump failed: %s", strerror(-err));
		goto cleanup;
	}
	{
		__u32 seq = st.nl_seq;
		struct pollfd p = { .fd = st.nl_fd, .events = POLLIN };

		while (!exiting && !nl_read(seq))
			poll(&p, 1, 1000);
	}
	out_flush();

	/* poll */
	next_stats = now_mono_ns() + (__u64)env.stats_ms * 1000000;
	next_flush = now_mono_ns() + (__u64)env.flush_ms * 1000000;
	while (!exiting) {
		struct pollfd pfd[3] = {
			{ .fd = ring_buffer__epoll_fd(rb), .events = POLLIN },
			{ .fd = st.nl_fd, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		__u64 now = now_mono_ns();
		struct timespec timeout = poll_timeout(now, next_stats, next_flush);
		int n = ppoll(pfd, 3, &timeout, NULL);

		if (n < 0 && errno != EINTR) {
			send_error(-errno, true, "poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN))
			ring_buffer__consume(rb);
		if (n > 0 && (pfd[1].revents & POLLIN))
			nl_read(0);
		if (n > 0 && (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!read_stdin()) {
				stdin_open = false;
				exiting = 1; /* EOF: the collector is gone or done */
			}
		}
		now = now_mono_ns();
		if (st.mode == 1 && now >= next_flush) {
			flow_flush();
			next_flush = now + (__u64)env.flush_ms * 1000000;
		}
		if (env.stats_ms && now >= next_stats) {
			send_stats();
			next_stats = now + (__u64)env.stats_ms * 1000000;
		}
		/* Records wait up to BATCH_WINDOW_NS so that a busy ring becomes few large frames and
		 * few writes; anything else (LINK, ACK, STATS) goes out at once. */
		if (st.nbatch && now_mono_ns() >= st.batch_since + BATCH_WINDOW_NS)
			events_flush();
		if (st.out_len)
			out_flush();
	}
	ring_buffer__consume(rb); /* whatever is still in the ring goes out before BYE */
	if (st.mode == CT_MODE_FLOW)
		flow_flush();
	rc = 0;

cleanup:
	for (int i = 0; i < st.nifs; i++)
		detach_iface(&st.ifs[i], false);
	if (st.skel && !st.out_broken) {
		events_flush();
		if (rc == 0) {
			send_stats();
			out_frame(CT_FRAME_BYE, NULL, 0, NULL, 0, NULL, 0);
		}
		out_flush();
	}
	ring_buffer__free(rb);
	bpf_link__destroy(st.drops_link);
	if (st.nl_fd >= 0)
		close(st.nl_fd);
	if (st.rep_fd >= 0)
		close(st.rep_fd);
	calitrace__destroy(st.skel);
	if (reasons.started)
		pthread_join(reasons.thread, NULL);
	free(reasons.bytes);
	free(st.ifs);
	free(st.out);
	return rc;
}
