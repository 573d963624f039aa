// SPDX-License-Identifier: Apache-2.0
/*
 * Case mode: the kernel counts every packet into the hop cases of its path, per epoch (maps.h,
 * common.bpf.h). This module owns the epoch clock: every --epoch-ms it advances the epoch in the
 * settings, then reads and empties the counters of the epoch that ended two epochs ago (every packet
 * of it has crossed the node by then) and writes them as CASES frames. It also forgets, now and then,
 * the cases nobody used for a while, so their next packet is shipped again and the table never fills.
 * Its state is its own (struct case_clock), given to it by the caller.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "calitrace.skel.h" /* after loader.h: it needs maps.h's struct ct_config */

#define CASES_PER_FRAME 4096 /* 96 KiB of entries */
#define KNOWN_IDLE_EPOCHS 16

static int slot_fd(struct calitrace *skel, __u32 slot)
{
	switch (slot & (CT_CASE_SLOTS - 1)) {
	case 0: return bpf_map__fd(skel->maps.ct_case_slot0);
	case 1: return bpf_map__fd(skel->maps.ct_case_slot1);
	case 2: return bpf_map__fd(skel->maps.ct_case_slot2);
	default: return bpf_map__fd(skel->maps.ct_case_slot3);
	}
}

/* Every entry of one epoch's slot as CASES frames, emptying it: keys first (a walk that deletes as it
 * goes restarts from the first bucket every time), then lookup-and-delete each, summing the CPUs' counters
 * (the slots are per-CPU hashes). The kernel does not write this slot again before two more epochs, so
 * nothing it adds can be lost in between. */
static void emit_epoch(struct calitrace *skel, struct output *o, __u32 epoch)
{
	int fd = slot_fd(skel, epoch), ncpu = libbpf_num_possible_cpus();
	struct ct_case_entry *out = calloc(CASES_PER_FRAME, sizeof(*out));
	__u64 *keys = malloc(sizeof(__u64) * 65536), *prev = NULL, next;
	struct ct_case_count *c = ncpu > 0 ? calloc(ncpu, sizeof(*c)) : NULL; /* 16 bytes: no per-CPU padding */
	__u32 nkeys = 0, n = 0;

	if (!out || !keys || !c) {
		free(out);
		free(keys);
		free(c);
		return;
	}
	while (nkeys < 65536 && bpf_map_get_next_key(fd, prev, &next) == 0) {
		keys[nkeys] = next;
		prev = &keys[nkeys++];
	}
	events_flush(o); /* the records of these cases go before their counts */
	for (__u32 i = 0; i < nkeys; i++) {
		if (bpf_map_lookup_and_delete_elem(fd, &keys[i], c)) {
			if (bpf_map_lookup_elem(fd, &keys[i], c))
				continue;
			bpf_map_delete_elem(fd, &keys[i]); /* kernels without lookup_and_delete for hashes */
		}
		out[n].case_id = keys[i];
		out[n].packets = out[n].bytes = 0;
		for (int cpu = 0; cpu < ncpu; cpu++) {
			out[n].packets += c[cpu].packets;
			out[n].bytes += c[cpu].bytes;
		}
		if (++n == CASES_PER_FRAME) {
			struct ct_cases_hdr h = { .epoch = epoch, .count = n, .entry_size = sizeof(*out) };

			out_frame(o, CT_FRAME_CASES, &h, sizeof(h), out, n * sizeof(*out), NULL, 0);
			n = 0;
		}
	}
	{
		struct ct_cases_hdr h = { .epoch = epoch, .count = n, .entry_size = sizeof(*out), .last = 1 };

		out_frame(o, CT_FRAME_CASES, &h, sizeof(h), out, n * sizeof(*out), NULL, 0);
	}
	free(out);
	free(keys);
	free(c);
}

/* Forgets known cases idle for KNOWN_IDLE_EPOCHS (their next packet is shipped and learnt again). */
static void age_known(struct calitrace *skel, __u32 epoch)
{
	int fd = bpf_map__fd(skel->maps.ct_case_known);
	__u64 *stale = malloc(sizeof(*stale) * 8192), key, next, *prev = NULL;
	__u32 last;
	int nstale = 0;

	while (stale && nstale < 8192 && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &last) && epoch - last > KNOWN_IDLE_EPOCHS)
			stale[nstale++] = key;
	}
	for (int i = 0; i < nstale; i++)
		bpf_map_delete_elem(fd, &stale[i]);
	free(stale);
}

void case_clock_start(struct case_clock *cc, __u64 now, int epoch_ms)
{
	cc->epoch_ns = (__u64)epoch_ms * 1000000ull;
	cc->next_ns = now + cc->epoch_ns;
}

__u64 case_clock_due(const struct case_clock *cc)
{
	return cc->next_ns;
}

int case_clock_tick(struct case_clock *cc, struct calitrace *skel, struct output *out, __u64 now)
{
	struct ct_settings s;
	__u32 zero = 0;
	int fd = bpf_map__fd(skel->maps.ct_settings);

	if (now < cc->next_ns)
		return 0;
	cc->next_ns = now + cc->epoch_ns;
	if (bpf_map_lookup_elem(fd, &zero, &s))
		return -errno;
	s.epoch++;
	if (bpf_map_update_elem(fd, &zero, &s, BPF_ANY))
		return -errno;
	cc->epoch = s.epoch;
	if (s.epoch >= 2)
		emit_epoch(skel, out, s.epoch - 2);
	if (s.epoch % KNOWN_IDLE_EPOCHS == 0)
		age_known(skel, s.epoch);
	return 1;
}

/* Leaving case mode: the epochs still counting go out now (their packets are as judged as they get). */
void case_clock_drain(struct case_clock *cc, struct calitrace *skel, struct output *out)
{
	for (__u32 e = cc->epoch >= 1 ? cc->epoch - 1 : 0; e <= cc->epoch; e++)
		emit_epoch(skel, out, e);
}
