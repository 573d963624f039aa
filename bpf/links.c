// SPDX-License-Identifier: Apache-2.0
/*
 * Which interfaces get the tracer, and how: patterns + the uplink (the underlay of vxlan.calico /
 * vxlan-v6.calico),
 * netlink (initial dump, then link add/remove/rename), TCX at the head of the chain or the clsact
 * fallback in a dedicated slot. We only ever remove what is ours. Its state is its own (struct links:
 * the interface table, the patterns, the netlink socket), created by main and passed to every function.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include "loader.h"
#include "calitrace.skel.h" /* after loader.h: it needs maps.h's struct ct_config */

static bool is_uplink(const struct links *l, int ifindex);

static bool name_matches(const struct links *l, const char *name)
{
	for (int i = 0; i < l->npatterns; i++)
		if (fnmatch(l->patterns[i], name, 0) == 0)
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

static int attach_iface(struct links *l, struct iface *ifc)
{
	int in_fd = l->prog_in, out_fd = l->prog_out;
	int err = 0;

	if (l->attach != ATTACH_TC && !l->tcx_unavailable) {
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
		if (l->attach == ATTACH_TCX || err == -ENODEV || err == -ENXIO)
			return err;
		/* The kernel does not know the TCX attach types: use clsact from now on. */
		if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUP)
			l->tcx_unavailable = true;
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
static void detach_iface(struct links *l, struct iface *ifc, bool gone)
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
	send_link(l->out, ifc, CT_LINK_DETACHED);
}

static void evaluate_iface(struct links *l, struct iface *ifc)
{
	enum ct_link_role role = 0; /* a set of CT_ROLE_* bits */
	int err;

	if (name_matches(l, ifc->name))
		role |= CT_ROLE_PATTERN;
	if (is_uplink(l, ifc->ifindex))
		role |= CT_ROLE_UPLINK;
	if (!role) {
		detach_iface(l, ifc, false);
		return;
	}
	if (ifc->attached) {
		if (role != ifc->role) {
			ifc->role = role;
			send_link(l->out, ifc, CT_LINK_ATTACHED);
		}
		return;
	}
	if (ifc->failed)
		return; /* tried already; a rename or an attach/detach command tries again */
	ifc->role = role;
	err = attach_iface(l, ifc);
	if (err == -ENODEV || err == -ENXIO)
		return; /* the device vanished while we attached: its RTM_DELLINK follows */
	if (err) {
		ifc->failed = true;
		send_error(l->out, err, false, "attach to %s (ifindex %d) failed: %s%s", ifc->name, ifc->ifindex,
			   strerror(-err),
			   err == -EBUSY ? " (a filter that is not ours holds handle 0xca11 prio 1)" : "");
		send_link(l->out, ifc, CT_LINK_FAILED);
		return;
	}
	ifc->attached = true;
	send_link(l->out, ifc, CT_LINK_ATTACHED);
}

static struct iface *iface_find(struct links *l, int ifindex)
{
	for (int i = 0; i < l->nifs; i++)
		if (l->ifs[i].ifindex == ifindex)
			return &l->ifs[i];
	return NULL;
}

static struct iface *iface_add(struct links *l, int ifindex)
{
	struct iface *ifc;

	if (l->nifs == l->cap_ifs) {
		int cap = l->cap_ifs ? l->cap_ifs * 2 : 64;
		struct iface *n = realloc(l->ifs, cap * sizeof(*n));

		if (!n)
			return NULL;
		l->ifs = n;
		l->cap_ifs = cap;
	}
	ifc = &l->ifs[l->nifs++];
	memset(ifc, 0, sizeof(*ifc));
	ifc->ifindex = ifindex;
	ifc->fd_in = ifc->fd_out = -1;
	return ifc;
}

static void iface_remove(struct links *l, struct iface *ifc)
{
	detach_iface(l, ifc, true);
	*ifc = l->ifs[--l->nifs];
}

__u32 links_attached_count(const struct links *l)
{
	__u32 n = 0;

	for (int i = 0; i < l->nifs; i++)
		n += l->ifs[i].attached;
	return n;
}

/* A LINK frame for every attached interface (the `links` command). */
void links_announce(struct links *l)
{
	for (int i = 0; i < l->nifs; i++)
		if (l->ifs[i].attached)
			send_link(l->out, &l->ifs[i], CT_LINK_ATTACHED);
}

void evaluate_all(struct links *l)
{
	for (int i = 0; i < l->nifs; i++) {
		l->ifs[i].failed = false;
		evaluate_iface(l, &l->ifs[i]);
	}
}

void links_detach_all(struct links *l)
{
	for (int i = 0; i < l->nifs; i++)
		detach_iface(l, &l->ifs[i], false);
}

/* A Calico VXLAN device without IFLA_VXLAN_LINK: the uplink is the device holding its local
 * address. */
static int ifindex_of_addr(int family, const void *addr)
{
	struct ifaddrs *ifa, *p;
	int idx = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (p = ifa; p && !idx; p = p->ifa_next) {
		if (!p->ifa_addr || p->ifa_addr->sa_family != family)
			continue;
		if (family == AF_INET &&
		    !memcmp(&((struct sockaddr_in *)p->ifa_addr)->sin_addr, addr, sizeof(struct in_addr)))
			idx = if_nametoindex(p->ifa_name);
		if (family == AF_INET6 &&
		    !memcmp(&((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr, addr, sizeof(struct in6_addr)))
			idx = if_nametoindex(p->ifa_name);
	}
	freeifaddrs(ifa);
	return idx;
}

static bool is_calico_vxlan(const char *name)
{
	return !strcmp(name, "vxlan.calico") || !strcmp(name, "vxlan-v6.calico");
}

/* An uplink is the underlay device of a Calico VXLAN device we know (only with the default patterns:
 * the uplink belongs to Calico's set of devices). */
static bool is_uplink(const struct links *l, int ifindex)
{
	if (!l->uplinks || !ifindex)
		return false;
	for (int i = 0; i < l->nifs; i++)
		if (l->ifs[i].vxlan_link == ifindex && is_calico_vxlan(l->ifs[i].name))
			return true;
	return false;
}

/* The underlay of a VXLAN device changed (appeared, moved, vanished): re-decide for both ends. */
static void underlay_changed(struct links *l, int old_ifindex, int new_ifindex)
{
	struct iface *ifc;

	if (old_ifindex == new_ifindex)
		return;
	if (old_ifindex && (ifc = iface_find(l, old_ifindex)))
		evaluate_iface(l, ifc);
	if (new_ifindex && (ifc = iface_find(l, new_ifindex)))
		evaluate_iface(l, ifc);
}

/* What attaching needs, known once the programs are loaded. uplinks: also the underlay of a Calico VXLAN
 * device (with the default patterns only: the uplink belongs to Calico's set of devices). */
void links_configure(struct links *l, struct output *out, int prog_in, int prog_out, enum attach_mode attach,
		     bool uplinks)
{
	l->out = out;
	l->prog_in = prog_in;
	l->prog_out = prog_out;
	l->attach = attach;
	l->uplinks = uplinks;
}

/* The rtnetlink socket that tells us of links coming, going and renamed. */
int links_open(struct links *l)
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
	l->nl_fd = fd;
	return 0;
}

int links_fd(const struct links *l)
{
	return l->nl_fd;
}

static int nl_dump_links(struct links *l)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = ++l->nl_seq },
		.ifi = { .ifi_family = AF_UNSPEC },
	};

	if (send(l->nl_fd, &req, sizeof(req), 0) < 0)
		return -errno;
	return 0;
}

/* IFLA_VXLAN_LINK (the underlay ifindex) and the local address (family 0 when there is none). */
static void nl_parse_linkinfo(struct rtattr *li, int *vxlan_link, int *family, unsigned char local[16])
{
	int len = RTA_PAYLOAD(li);

	for (struct rtattr *a = RTA_DATA(li); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != IFLA_INFO_DATA)
			continue;
		int dlen = RTA_PAYLOAD(a);

		for (struct rtattr *d = RTA_DATA(a); RTA_OK(d, dlen); d = RTA_NEXT(d, dlen)) {
			if (d->rta_type == IFLA_VXLAN_LINK && RTA_PAYLOAD(d) >= 4) {
				*vxlan_link = *(__u32 *)RTA_DATA(d);
			} else if (d->rta_type == IFLA_VXLAN_LOCAL && RTA_PAYLOAD(d) >= 4) {
				memcpy(local, RTA_DATA(d), 4);
				*family = AF_INET;
			} else if (d->rta_type == IFLA_VXLAN_LOCAL6 && RTA_PAYLOAD(d) >= 16) {
				memcpy(local, RTA_DATA(d), 16);
				*family = AF_INET6;
			}
		}
	}
}

static void nl_handle_link(struct links *l, struct nlmsghdr *nh)
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
	ifc = iface_find(l, ifi->ifi_index);
	if (ifc)
		ifc->seen = true;
	if (nh->nlmsg_type == RTM_DELLINK) {
		if (ifc) {
			int underlay = ifc->vxlan_link;

			iface_remove(l, ifc);
			underlay_changed(l, underlay, 0); /* no VXLAN device, no uplink (unless a pattern) */
		}
		return;
	}
	if (!name)
		return;
	if (!ifc) {
		ifc = iface_add(l, ifi->ifi_index);
		if (!ifc)
			return;
		ifc->seen = true;
	}
	if (strncmp(ifc->name, name, IF_NAMESIZE)) {
		snprintf(ifc->name, sizeof(ifc->name), "%s", name);
		ifc->failed = false;
		if (ifc->attached)
			send_link(l->out, ifc, CT_LINK_ATTACHED); /* renamed: tell the collector the new name */
	}
	if (is_calico_vxlan(ifc->name) && linkinfo) {
		int old = ifc->vxlan_link, vlink = 0, family = 0;
		unsigned char local[16];

		nl_parse_linkinfo(linkinfo, &vlink, &family, local);
		if (!vlink && family)
			vlink = ifindex_of_addr(family, local);
		ifc->vxlan_link = vlink;
		underlay_changed(l, old, vlink);
	}
	evaluate_iface(l, ifc);
}

/* Returns 1 when the dump with sequence `until_seq` is complete. */
static int nl_read(struct links *l, __u32 until_seq)
{
	char buf[64 * 1024];
	int done = 0;

	for (;;) {
		ssize_t n = recv(l->nl_fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* We missed link events: resynchronise with a fresh dump, and at its end
				 * forget the devices it did not list (their RTM_DELLINK was lost). */
				for (int i = 0; i < l->nifs; i++)
					l->ifs[i].seen = false;
				if (nl_dump_links(l) == 0)
					l->resync_seq = l->nl_seq;
				continue;
			}
			return done; /* EAGAIN: drained */
		}
		for (struct nlmsghdr *nh = (void *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
				if (until_seq && nh->nlmsg_seq == until_seq)
					done = 1;
				if (l->resync_seq && nh->nlmsg_seq == l->resync_seq) {
					l->resync_seq = 0;
					for (int i = l->nifs - 1; i >= 0; i--)
						if (!l->ifs[i].seen)
							iface_remove(l, &l->ifs[i]);
				}
				continue;
			}
			if (nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK)
				nl_handle_link(l, nh);
		}
		if (done)
			return done;
	}
}

/* Every link the kernel has now, attached or not by the rules; returns once the dump is complete. */
int links_dump(struct links *l)
{
	struct pollfd p = { .fd = l->nl_fd, .events = POLLIN };
	__u32 seq;
	int err = nl_dump_links(l);

	if (err)
		return err;
	seq = l->nl_seq;
	while (!exiting && !nl_read(l, seq))
		poll(&p, 1, 1000);
	return 0;
}

/* Link events since the last call (the socket is non-blocking). */
void links_read(struct links *l)
{
	nl_read(l, 0);
}

void links_close(struct links *l)
{
	if (l->nl_fd >= 0)
		close(l->nl_fd);
	l->nl_fd = -1;
	free(l->ifs);
	l->ifs = NULL;
	l->nifs = l->cap_ifs = 0;
	for (int i = 0; i < l->npatterns; i++)
		free(l->patterns[i]);
	l->npatterns = 0;
}

int pattern_add(struct links *l, const char *p)
{
	for (int i = 0; i < l->npatterns; i++)
		if (!strcmp(l->patterns[i], p))
			return 0;
	if (l->npatterns == MAX_PATTERNS)
		return -E2BIG;
	l->patterns[l->npatterns] = strdup(p);
	if (!l->patterns[l->npatterns])
		return -ENOMEM;
	l->npatterns++;
	return 0;
}

int pattern_del(struct links *l, const char *p)
{
	for (int i = 0; i < l->npatterns; i++)
		if (!strcmp(l->patterns[i], p)) {
			free(l->patterns[i]);
			l->patterns[i] = l->patterns[--l->npatterns];
			return 0;
		}
	return -ENOENT;
}

/* --show IFNAME: what is attached to the device's TCX hooks and in our clsact slot, as text lines
 * ("tcx ingress ID NAME", "tc egress ID NAME"). Lets tests and operators check that nothing of ours
 * stayed behind (bpftool 7.1 does not know TCX yet). */
int show_iface(const char *name)
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
