// SPDX-License-Identifier: Apache-2.0
/*
 * calitrace-loader: loads the tc tracer and the kfree_skb drop reporter, attaches the tracer to the
 * interfaces that match the patterns (following netlink link add/remove), and streams the ring buffer
 * as binary frames on stdout (docs/protocol.md). Commands arrive on stdin, one per line.
 *
 * Flow: open -> configure -> load -> attach -> poll; every exit goes through one cleanup path that
 * detaches what we attached (and only that). This file is that flow plus the command line; the
 * pieces live in output.c, hello.c, links.c, commands.c, flows.c, cases.c and snap.c, each owning its
 * state, which main creates here and passes to them (see loader.h).
 */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "snap.h"
#include "calitrace.skel.h" /* after loader.h: it needs maps.h's struct ct_config */

/* The command line. main's own: the modules get what they need of it as arguments. */
static struct env {
	bool verbose;
	bool golden;
	bool golden_snap;
	bool no_defaults;
	bool no_drops;
	const char *netns;
	const char *filter;
	const char *show;
	enum ct_mode mode;
	enum attach_mode attach;
	int flush_ms;
	int stats_ms;
	int ringbuf_mb;
	int vxlan_port;
	int wakeup_ms; /* ring drain timer */
	int epoch_ms;  /* case mode: counting epoch */
	__u32 snaplen; /* 0: no snapshots */
} env = {
	.flush_ms = 1000, .stats_ms = 1000, .ringbuf_mb = 4, .vxlan_port = CT_VXLAN_PORT, .wakeup_ms = 5,
	.epoch_ms = 200,
};
volatile sig_atomic_t exiting;

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
	"Attaches to cali*, vxlan.calico, vxlan-v6.calico and their underlay device\n"
	"(plus --iface patterns), follows interfaces as they come and go, and\n"
	"writes the binary frames of docs/protocol.md to stdout. Commands on stdin:\n"
	"filter, mode, stats, attach, detach, links, quit. stdin EOF, SIGINT or SIGTERM\n"
	"detach everything and exit 0. Normally spawned by `calitrace trace`.\n"
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
	"  # the fixed golden records (one of each shape) documented in docs/protocol.md\n"
	"  calitrace-loader --golden | xxd\n";

enum {
	OPT_NETNS = 1000, OPT_NO_DEFAULTS, OPT_MODE, OPT_FILTER, OPT_ATTACH, OPT_FLUSH, OPT_STATS,
	OPT_RINGBUF, OPT_NO_DROPS, OPT_GOLDEN, OPT_SHOW, OPT_VXLAN_PORT, OPT_WAKEUP, OPT_EPOCH, OPT_SNAPLEN,
	OPT_GOLDEN_SNAP,
};

static const struct argp_option opts[] = {
	{ "verbose", 'v', NULL, 0, "libbpf debug output on stderr", 0 },
	{ "netns", OPT_NETNS, "NAME", 0, "enter /var/run/netns/NAME before anything else", 0 },
	{ "iface", 'i', "PATTERN", 0, "also attach to interfaces matching this glob (repeatable)", 0 },
	{ "no-default-ifaces", OPT_NO_DEFAULTS, NULL, 0, "drop the default patterns and the uplink", 0 },
	{ "mode", OPT_MODE, "packet|flow|case", 0,
	  "start mode (default packet): a record per packet and hop; per flow; or case: every packet "
	  "counted into its path's case in the kernel, a record only for a new case or a drop", 0 },
	{ "epoch-ms", OPT_EPOCH, "MS", 0, "case mode: counting epoch, CASES frames this often (default 200)", 0 },
	{ "filter", OPT_FILTER, "FILTER", 0, "start filter, same words as the stdin 'filter' command", 0 },
	{ "attach-mode", OPT_ATTACH, "auto|tcx|tc", 0, "TCX, clsact fallback, or auto (default)", 0 },
	{ "flush-ms", OPT_FLUSH, "MS", 0, "flow mode: counter flush interval (default 1000)", 0 },
	{ "stats-ms", OPT_STATS, "MS", 0, "STATS frame interval, 0 = only on demand (default 1000)", 0 },
	{ "ringbuf-mb", OPT_RINGBUF, "MB", 0, "ring buffer size, a power of 2 (default 4)", 0 },
	{ "wakeup-ms", OPT_WAKEUP, "MS", 0,
	  "drain the ring buffer every MS ms; records wake the loader at once only when the ring is a "
	  "quarter full (default 5)", 0 },
	{ "vxlan-port", OPT_VXLAN_PORT, "PORT", 0, "UDP port decoded as VXLAN (default 4789)", 0 },
	{ "snaplen", OPT_SNAPLEN, "BYTES", 0, "also send the first BYTES (1-512) of every traced packet (SNAP frames)", 0 },
	{ "no-drops", OPT_NO_DROPS, NULL, 0, "do not attach the kfree_skb drop reporter", 0 },
	{ "golden", OPT_GOLDEN, NULL, 0, "write the golden EVENTS frame (docs/protocol.md) and exit", 0 },
	{ "golden-snap", OPT_GOLDEN_SNAP, NULL, 0, "write the golden SNAP frame (docs/protocol.md) and exit", 0 },
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
	struct links *links = state->input;

	switch (key) {
	case 'v': env.verbose = true; break;
	case OPT_NETNS: env.netns = arg; break;
	case 'i':
		if (pattern_add(links, arg))
			argp_error(state, "too many --iface patterns (at most %d)", MAX_PATTERNS);
		break;
	case OPT_NO_DEFAULTS: env.no_defaults = true; break;
	case OPT_MODE:
		if (mode_parse(arg, &env.mode))
			argp_error(state, "--mode is 'packet', 'flow' or 'case', not '%s'", arg);
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
	case OPT_SNAPLEN: env.snaplen = parse_num(arg, 1, CT_SNAP_MAX, state, "--snaplen"); break;
	case OPT_EPOCH: env.epoch_ms = parse_num(arg, 20, 10000, state, "--epoch-ms"); break;
	case OPT_WAKEUP: env.wakeup_ms = parse_num(arg, 1, 1000, state, "--wakeup-ms"); break;
	case OPT_VXLAN_PORT: env.vxlan_port = parse_num(arg, 1, 65535, state, "--vxlan-port"); break;
	case OPT_GOLDEN: env.golden = true; break;
	case OPT_GOLDEN_SNAP: env.golden_snap = true; break;
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

/* How long poll may sleep: until the next ring drain, STATS frame or flow flush. */
static struct timespec poll_timeout(enum ct_mode mode, __u64 now, __u64 next_drain, __u64 next_stats,
				    __u64 next_flush, const struct case_clock *cc)
{
	__u64 next = next_drain;
	struct timespec ts;

	if (mode == CT_MODE_CASE && case_clock_due(cc) < next)
		next = case_clock_due(cc);
	if (env.stats_ms && next_stats < next)
		next = next_stats;
	if (mode == CT_MODE_FLOW && next_flush < next)
		next = next_flush;
	next = next > now ? next - now : 0;
	ts.tv_sec = next / 1000000000ull;
	ts.tv_nsec = next % 1000000000ull;
	return ts;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { .options = opts, .parser = parse_arg, .doc = doc };
	struct calitrace *skel = NULL; /* calitrace.skel.h */
	struct bpf_link *drops_link = NULL;
	struct ring_buffer *rb = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct stat ns_st;
	struct reason_table reasons = {};
	__u64 next_stats, next_flush, next_drain;
	struct case_clock cases = {};
	struct flow_reporter flows = { .rep_fd = -1 };
	struct output out;
	struct links links = LINKS_INIT;
	struct commands cmds;
	static struct snapshots snaps; /* 60 KiB of batch */
	int ncpus;
	int err, rc = 1;
	bool stdin_open = true;

	err = argp_parse(&argp, argc, argv, 0, NULL, &links);
	if (err)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: a blocked poll/write returns and we exit */
	sigaction(SIGTERM, &sa, NULL);
	if (output_open(&out))
		return 1;
	snaps_init(&snaps, &out, env.snaplen, env.wakeup_ms);
	if (!env.show && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "calitrace-loader: stdout is a terminal, and the loader writes binary frames.\n"
				"Pipe it (calitrace-loader | xxd) or run `calitrace trace` for readable output.\n");
		return 2;
	}
	if (env.golden_snap)
		return snap_write_golden(&snaps);
	if (env.golden)
		return write_golden(&out);

	if (env.netns && enter_netns(env.netns))
		return 1;
	if (env.show) {
		libbpf_set_print(libbpf_print);
		return show_iface(env.show);
	}
	if (!env.no_defaults) {
		pattern_add(&links, "cali*");
		pattern_add(&links, "vxlan.calico");
		pattern_add(&links, "vxlan-v6.calico");
	}
	if (stat("/proc/self/ns/net", &ns_st)) {
		fprintf(stderr, "calitrace-loader: stat /proc/self/ns/net: %s\n", strerror(errno));
		return 1;
	}
	libbpf_set_print(libbpf_print);
	ncpus = libbpf_num_possible_cpus();
	reasons.started = pthread_create(&reasons.thread, NULL, reason_table_build, &reasons) == 0;

	/* open -> configure -> load */
	skel = calitrace__open();
	if (!skel) {
		send_error(&out, -errno, true, "opening the BPF object failed: %s", strerror(errno));
		goto cleanup;
	}
	skel->rodata->ct_cfg.netns_ino = (__u32)ns_st.st_ino;
	skel->rodata->ct_cfg.fib_lookup = 1;
	skel->rodata->ct_cfg.vxlan_port = env.vxlan_port;
	bpf_map__set_max_entries(skel->maps.ct_events, (__u32)env.ringbuf_mb << 20);
	snap_configure(&snaps, skel, env.ringbuf_mb, ncpus);
	/* Records go in without waking us (we drain on a timer); a quarter-full ring wakes us at once. */
	skel->rodata->ct_cfg.wakeup_bytes = ((__u32)env.ringbuf_mb << 20) / 4;
	if (env.no_drops)
		bpf_program__set_autoload(skel->progs.ct_kfree_skb, false);
	err = calitrace__load(skel);
	if (err) {
		send_error(&out, err, true,
			   "loading the BPF programs failed: %s (run as root; -v shows the verifier log)",
			   strerror(-err));
		goto cleanup;
	}
	if ((err = flow_reporter_open(&flows))) {
		send_error(&out, err, true, "creating the flow report map failed: %s", strerror(-err));
		goto cleanup;
	}
	{
		struct ct_settings s = { .mode = env.mode };

		settings_put(skel, &s);
	}
	if (env.filter) {
		char f[MAX_LINE], msg[256] = "";

		snprintf(f, sizeof(f), "%s", env.filter);
		err = cmd_filter(skel, f, msg, sizeof(msg));
		if (err) {
			send_error(&out, err, true, "--filter: %s", msg[0] ? msg : strerror(-err));
			goto cleanup;
		}
	}

	commands_init(&cmds, skel, &out, &links, &flows, ncpus, env.mode);

	/* attach: drops first (HELLO says whether that worked), then the interfaces of the netlink dump */
	if (!env.no_drops) {
		drops_link = bpf_program__attach(skel->progs.ct_kfree_skb);
		err = drops_link ? 0 : -errno;
	}
	{
		struct hello_facts hf = { .netns_ino = (__u32)ns_st.st_ino, .ncpus = ncpus, .mode = env.mode,
					  .attach = env.attach, .drops = drops_link != NULL };

		send_hello(&out, &reasons, &hf);
	}
	if (!env.no_drops && !drops_link)
		send_error(&out, err, false, "attaching tp_btf/kfree_skb failed: %s (drops will not be reported)",
			   strerror(-err));
	rb = events_reader(&out, bpf_map__fd(skel->maps.ct_events));
	if (!rb) {
		send_error(&out, -errno, true, "creating the ring buffer reader failed: %s", strerror(errno));
		goto cleanup;
	}
	if ((err = snap_attach(&snaps))) {
		send_error(&out, err, true, "reading the snapshot ring buffer failed: %s", strerror(-err));
		goto cleanup;
	}
	links_configure(&links, &out, bpf_program__fd(skel->progs.ct_tc_ingress),
			bpf_program__fd(skel->progs.ct_tc_egress), env.attach, !env.no_defaults);
	if ((err = links_open(&links))) {
		send_error(&out, err, true, "opening rtnetlink failed: %s", strerror(-err));
		goto cleanup;
	}
	if ((err = links_dump(&links))) {
		send_error(&out, err, true, "netlink link dump failed: %s", strerror(-err));
		goto cleanup;
	}
	out_flush(&out);

	/* poll */
	next_stats = now_mono_ns() + (__u64)env.stats_ms * 1000000;
	next_flush = now_mono_ns() + (__u64)env.flush_ms * 1000000;
	next_drain = now_mono_ns();
	case_clock_start(&cases, next_drain, env.epoch_ms);
	while (!exiting) {
		struct pollfd pfd[4] = {
			{ .fd = ring_buffer__epoll_fd(rb), .events = POLLIN },
			{ .fd = links_fd(&links), .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = snap_poll_fd(&snaps), .events = POLLIN }, /* -1 unless --snaplen */
		};
		__u64 now = now_mono_ns();
		struct timespec timeout = poll_timeout(commands_mode(&cmds), now, next_drain, next_stats, next_flush,
						       &cases);
		int n = ppoll(pfd, 4, &timeout, NULL);

		if (n < 0 && errno != EINTR) {
			send_error(&out, -errno, true, "poll: %s", strerror(errno));
			break;
		}
		now = now_mono_ns();
		if ((n > 0 && (pfd[0].revents & POLLIN)) || now >= next_drain) {
			/* -EAGAIN = a full round: the rest comes next turn, right after stdin/netlink. */
			if (events_consume(&out, rb) == -EAGAIN) {
				next_drain = now;
			} else {
				events_flush(&out); /* the ring is empty: what we have goes out as one frame */
				next_drain = now + (__u64)env.wakeup_ms * 1000000;
			}
			/* Records were lost: say so right behind the records that survived, after every
			 * round (a backlog takes many), so the collector knows before it judges the
			 * packets around the loss — not once the whole backlog is through. */
			if (loss_unreported(&out, skel, ncpus)) {
				events_flush(&out);
				snap_flush(&snaps); /* snapshots before the STATS that counts their events */
				send_stats(&out, skel, ncpus, links_attached_count(&links), flow_records_sent(&flows));
			}
		}
		if (n > 0 && (pfd[3].revents & POLLIN))
			snap_consume(&snaps);
		if (n > 0 && (pfd[1].revents & POLLIN))
			links_read(&links);
		if (n > 0 && (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!read_stdin(&cmds)) {
				stdin_open = false;
				exiting = 1; /* EOF: the collector is gone or done */
			}
		}
		now = now_mono_ns();
		if (commands_mode(&cmds) == CT_MODE_CASE && now >= case_clock_due(&cases)) {
			/* Every record of the ending epochs goes out before their counts. */
			for (int round = 0; round < 16; round++)
				if (events_consume(&out, rb) != -EAGAIN)
					break;
			case_clock_tick(&cases, skel, &out, now);
		} else if (commands_mode(&cmds) != CT_MODE_CASE) {
			case_clock_start(&cases, now, env.epoch_ms);
		}
		if (commands_mode(&cmds) == CT_MODE_FLOW && now >= next_flush) {
			flow_flush(&flows, skel, &out);
			next_flush = now + (__u64)env.flush_ms * 1000000;
		}
		if (env.stats_ms && now >= next_stats) {
			snap_flush(&snaps); /* snapshots before the STATS that counts their events */
			send_stats(&out, skel, ncpus, links_attached_count(&links), flow_records_sent(&flows));
			next_stats = now + (__u64)env.stats_ms * 1000000;
		}
		snap_tick(&snaps, now_mono_ns());
		if (output_pending(&out))
			out_flush(&out);
	}
	/* Whatever is still in the ring goes out before BYE (bounded: the programs are still attached). */
	for (int round = 0; round < 64 && !output_broken(&out); round++)
		if (events_consume(&out, rb) != -EAGAIN)
			break;
	if (commands_mode(&cmds) == CT_MODE_FLOW)
		flow_flush(&flows, skel, &out);
	if (commands_mode(&cmds) == CT_MODE_CASE)
		case_clock_drain(&cases, skel, &out);
	rc = 0;

cleanup:
	links_detach_all(&links);
	if (skel && !output_broken(&out)) {
		events_flush(&out);
		snap_drain(&snaps);
		if (rc == 0) {
			send_stats(&out, skel, ncpus, links_attached_count(&links), flow_records_sent(&flows));
			out_frame(&out, CT_FRAME_BYE, NULL, 0, NULL, 0, NULL, 0);
		}
		out_flush(&out);
	}
	ring_buffer__free(rb);
	bpf_link__destroy(drops_link);
	links_close(&links);
	flow_reporter_close(&flows);
	calitrace__destroy(skel);
	if (reasons.started)
		pthread_join(reasons.thread, NULL);
	free(reasons.bytes);
	output_close(&out);
	return rc;
}
