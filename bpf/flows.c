// SPDX-License-Identifier: Apache-2.0
/*
 * Flow mode: the kernel counts packets per flow per hop in an LRU map; every --flush-ms the loader
 * sends the counts accumulated since the previous flush as kind-2 records.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "loader.h"
#include "calitrace.skel.h" /* after loader.h: it needs maps.h's struct ct_config */

int flow_reporter_open(struct flow_reporter *fr)
{
	fr->flushes = 0;
	fr->records = 0;
	fr->rep_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ct_flow_rep", sizeof(struct ct_flow_key),
				    sizeof(struct flow_rep), 65536, NULL);
	return fr->rep_fd < 0 ? -errno : 0;
}

void flow_reporter_close(struct flow_reporter *fr)
{
	if (fr->rep_fd >= 0)
		close(fr->rep_fd);
	fr->rep_fd = -1;
}

__u64 flow_records_sent(const struct flow_reporter *fr)
{
	return fr->records;
}

void flow_flush(struct flow_reporter *fr, struct calitrace *skel, struct output *out)
{
	int flows = bpf_map__fd(skel->maps.ct_flows);
	struct ct_flow_key key, next, *prev = NULL;
	struct ct_flow_val v;
	struct flow_rep r;

	while (bpf_map_get_next_key(flows, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(flows, &key, &v))
			continue;
		if (bpf_map_lookup_elem(fr->rep_fd, &key, &r) || r.packets > v.packets)
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
		event_add(out, &e);
		fr->records++;
		r.packets = v.packets;
		r.bytes = v.bytes;
		bpf_map_update_elem(fr->rep_fd, &key, &r, BPF_ANY);
	}
	/* Now and then forget the report state of flows the LRU has evicted (collected first: deleting
	 * the iteration cursor would restart the walk). */
	if (++fr->flushes % 16 == 0) {
		struct ct_flow_key *stale = malloc(sizeof(*stale) * 4096);
		int nstale = 0;

		prev = NULL;
		while (stale && nstale < 4096 && bpf_map_get_next_key(fr->rep_fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(flows, &key, &v) && errno == ENOENT)
				stale[nstale++] = key;
		}
		for (int i = 0; i < nstale; i++)
			bpf_map_delete_elem(fr->rep_fd, &stale[i]);
		free(stale);
	}
}
