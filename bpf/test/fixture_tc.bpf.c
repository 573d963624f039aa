// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test fixture, not part of calitrace: "somebody else's" tc program, attached by the tests with
 * `tc filter add … bpf da obj …` before calitrace starts, to show that calitrace leaves it attached
 * and running. It counts the packets it sees in a global (readable with `bpftool map dump id`), so a
 * test can watch the count grow before, during and after tracing.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 fixture_packets;

SEC("tc")
int fixture_other(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&fixture_packets, 1);
	return -1; /* TC_ACT_UNSPEC: carry on as if we were not here */
}

char LICENSE[] SEC("license") = "GPL";
