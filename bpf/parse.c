// SPDX-License-Identifier: Apache-2.0
/*
 * calitrace-parse: runs the real tc program once on a packet given in hex (BPF_PROG_TEST_RUN) and
 * writes what it put in the ring buffer as one EVENTS frame (docs/protocol.md) on stdout — zero
 * records when the program ignored the packet. For parser tests with exact bytes that a veth cannot
 * carry to a tc hook (the kernel strips in-band VLAN tags before tc ingress, for instance). Nothing
 * is attached anywhere.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "event.h"
#include "maps.h"
#include "calitrace.skel.h"

static struct {
	const char *hex;
	bool ingress;
} opt;

static unsigned char records[16 * CT_REC_MAX_SIZE]; /* wire records as the program wrote them */
static size_t records_len;
static int nrecords;

static int keep(void *ctx, void *data, size_t size)
{
	if (nrecords < 16 && size <= CT_REC_MAX_SIZE) {
		memcpy(records + records_len, data, size);
		records_len += size;
		nrecords++;
	}
	return 0;
}

static int unhex(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned int v;

		if (*s == ' ' || *s == ':' || *s == '\n')
			continue;
		if (!s[1] || sscanf(s, "%2x", &v) != 1 || n == cap)
			return -1;
		out[n++] = v;
		s++;
	}
	return (int)n;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'x': opt.hex = arg; break;
	case 'i': opt.ingress = true; break;
	case ARGP_KEY_END:
		if (!opt.hex)
			argp_error(state, "--hex is required");
		break;
	case ARGP_KEY_ARG: argp_usage(state); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp_option opts[] = {
		{ "hex", 'x', "BYTES", 0, "the frame, from the Ethernet header, as hex (spaces allowed)", 0 },
		{ "ingress", 'i', NULL, 0, "run the ingress program (default: egress, no FIB lookup)", 0 },
		{},
	};
	static const struct argp argp = {
		.options = opts, .parser = parse_arg,
		.doc = "calitrace-parse: one packet through the real tc program; the record as an EVENTS frame.\v"
		       "EXAMPLES:\n"
		       "  calitrace-parse --hex 'ffffffffffff 020000000001 0800 4500…' | xxd\n",
	};
	unsigned char pkt[2048], out[2048];
	struct calitrace *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct ct_frame_hdr h = { .magic = CT_FRAME_MAGIC, .version = CT_PROTOCOL_VERSION, .type = CT_FRAME_EVENTS };
	struct ct_events_hdr eh = { .base_size = sizeof(struct ct_rec) };
	int len, rc = 1;

	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	len = unhex(opt.hex, pkt, sizeof(pkt));
	if (len < 0) {
		fprintf(stderr, "calitrace-parse: --hex is not an even string of hex digits (max %zu bytes)\n", sizeof(pkt));
		return 2;
	}
	skel = calitrace__open();
	if (!skel)
		return 1;
	bpf_program__set_autoload(skel->progs.ct_kfree_skb, false);
	if (calitrace__load(skel)) {
		fprintf(stderr, "calitrace-parse: loading the tracer failed (run as root)\n");
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.ct_events), keep, NULL, NULL);
	if (!rb)
		goto out;
	{
		int fd = bpf_program__fd(opt.ingress ? skel->progs.ct_tc_ingress : skel->progs.ct_tc_egress);
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = 1);

		if (bpf_prog_test_run_opts(fd, &o)) {
			fprintf(stderr, "calitrace-parse: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			goto out;
		}
		if (o.retval != (__u32)-1) {
			fprintf(stderr, "calitrace-parse: the program returned %d, not TC_ACT_UNSPEC\n", (int)o.retval);
			goto out;
		}
	}
	ring_buffer__consume(rb);
	eh.count = nrecords;
	h.length = sizeof(eh) + records_len;
	if (fwrite(&h, sizeof(h), 1, stdout) != 1 || fwrite(&eh, sizeof(eh), 1, stdout) != 1 ||
	    (records_len && fwrite(records, records_len, 1, stdout) != 1))
		goto out;
	rc = fflush(stdout) ? 1 : 0;
out:
	ring_buffer__free(rb);
	calitrace__destroy(skel);
	return rc;
}
