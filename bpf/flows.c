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

void flow_flush(void)
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
