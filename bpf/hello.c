// SPDX-License-Identifier: Apache-2.0
/*
 * The HELLO frame. Its drop-reason table comes from the running kernel's BTF (enum
 * skb_drop_reason), never from a table of ours; it is built on a thread while libbpf loads.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <sys/utsname.h>
#include <bpf/btf.h>
#include "loader.h"

void *reason_table_build(void *arg)
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

int send_hello(struct output *out, struct reason_table *rt, const struct hello_facts *f)
{
	struct ct_hello h = {
		.protocol_version = CT_PROTOCOL_VERSION,
		.record_size = sizeof(struct ct_rec),
		.ncpus = f->ncpus,
		.pid = getpid(),
		.mode = f->mode,
		.netns_ino = f->netns_ino,
	};
	struct timespec rtc, mono;
	struct utsname u;

	clock_gettime(CLOCK_REALTIME, &rtc);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	h.realtime_offset_ns = ((__s64)rtc.tv_sec - mono.tv_sec) * 1000000000ll + (rtc.tv_nsec - mono.tv_nsec);
	h.features = CT_FEAT_FIB | CT_FEAT_FLOW_MODE | (f->drops ? CT_FEAT_DROPS : 0) |
		     (f->attach == ATTACH_TC ? CT_FEAT_CLSACT : CT_FEAT_TCX);
	uname(&u);
	h.kernel_release_len = strlen(u.release);
	if (rt->started) {
		pthread_join(rt->thread, NULL);
		rt->started = false;
	}
	h.reason_count = rt->count;
	out_frame(out, CT_FRAME_HELLO, &h, sizeof(h), u.release, h.kernel_release_len, rt->bytes, rt->len);
	if (rt->err)
		send_error(out, rt->err, false,
			   "no enum skb_drop_reason in the kernel BTF (/sys/kernel/btf/vmlinux): drop reasons will have no names");
	out_flush(out);
	return 0;
}
