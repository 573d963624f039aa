// SPDX-License-Identifier: Apache-2.0
/*
 * calitrace-bench: what the tc tracer costs per packet, measured in the kernel with
 * BPF_PROG_TEST_RUN (the program runs on a crafted packet N times; the kernel reports the mean time).
 * No interface is attached and no traffic is sent, so the figures do not depend on a traffic
 * generator; a one-instruction-ish tc program (bpf/test/fixture_tc.bpf.o) run the same way is the
 * baseline. Cases: filter miss, packet mode (a thread drains the ring buffer meanwhile), flow mode,
 * case mode, for plain and VXLAN-encapsulated packets, at egress (parse) and ingress (parse + FIB
 * lookup). Prints one line per case: ns/packet and the difference to the baseline.
 *
 * Case mode twice: "case-same" runs one packet N times, so every run after the first finds its own
 * fingerprint in the in-flight table (the cheap path); "case-fresh" is what traffic does — every packet
 * has a fingerprint of its own, the in-flight tables are full beforehand (so an LRU must evict), and each
 * packet runs once at ingress and then once at egress, where it finds the hop before it.
 *
 * --prog-stats-of PID measures real traffic instead: it turns on the kernel's run-time statistics
 * (BPF_ENABLE_STATS, held by a file descriptor and undone when it closes; never the sysctl), prints READY,
 * and on SIGINT/SIGTERM prints, per BPF program the process PID holds (a running calitrace-loader), the runs
 * and the nanoseconds spent in them meanwhile as one JSON line. scripts/bench-peers.ts uses it.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "event.h"
#include "maps.h"
#include "calitrace.skel.h"

static struct {
	const char *netns;
	const char *fixture;
	const char *iface;
	int ifindex;
	int repeat;
	int fresh;
	int stats_pid;
} opt = { .fixture = "bpf/.output/fixture_tc.bpf.o", .repeat = 200000, .fresh = 20000 };

static volatile int draining = 1;

static __u16 csum(const void *p, size_t n)
{
	const __u8 *b = p;
	__u32 s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (b[i] << 8) | b[i + 1];
	if (n & 1)
		s += b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons(~s & 0xffff);
}

/* Ethernet + IPv4 + ICMP echo (56 bytes of payload, as ping sends): 98 bytes. Returns the length.
 * seq is also the IP id: two packets with different seq have different fingerprints. */
static size_t icmp_packet(__u8 *p, const char *src, const char *dst, __u16 seq)
{
	__u8 *ip = p + 14, *icmp = ip + 20;

	memset(p, 0, 98);
	memcpy(p, "\xee\xee\xee\xee\xee\xee\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	ip[0] = 0x45;
	*(__u16 *)(ip + 2) = htons(84);
	*(__u16 *)(ip + 4) = htons(seq);
	ip[8] = 64;
	ip[9] = 1;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	*(__u16 *)(ip + 10) = csum(ip, 20);
	icmp[0] = 8;
	*(__u16 *)(icmp + 4) = htons(0x4242);
	*(__u16 *)(icmp + 6) = htons(seq);
	*(__u16 *)(icmp + 2) = csum(icmp, 64);
	return 98;
}

/* The same ICMP packet inside VXLAN (VNI 4096) between two node addresses: 148 bytes. */
static size_t vxlan_packet(__u8 *p, __u16 seq)
{
	__u8 inner[98];
	__u8 *ip = p + 14, *udp = ip + 20, *vx = udp + 8;
	size_t n = icmp_packet(inner, "10.233.101.222", "10.233.100.130", seq);

	memset(p, 0, 50);
	memcpy(p, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	ip[0] = 0x45;
	*(__u16 *)(ip + 2) = htons(20 + 8 + 8 + n);
	*(__u16 *)(ip + 4) = htons(seq);
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, "172.27.71.11", ip + 12);
	inet_pton(AF_INET, "172.27.71.12", ip + 16);
	*(__u16 *)(ip + 10) = csum(ip, 20);
	*(__u16 *)(udp + 0) = htons(44319);
	*(__u16 *)(udp + 2) = htons(4789);
	*(__u16 *)(udp + 4) = htons(8 + 8 + n);
	vx[0] = 0x08;
	vx[5] = 0x10; /* VNI 4096 = 0x001000 */
	memcpy(p + 50, inner, n);
	return 50 + n;
}

static __u64 drained, fib_answered;

static int count_record(void *ctx, void *data, size_t size)
{
	const struct ct_rec *r = data;

	drained++;
	fib_answered += (r->parts & CT_PART_FIB) != 0;
	return 0;
}

static void *drain(void *arg)
{
	struct ring_buffer *rb = arg;

	while (draining)
		ring_buffer__consume(rb);
	return NULL;
}

static int set_mode(struct calitrace *skel, __u32 mode, bool miss)
{
	struct ct_settings s = { .mode = mode };
	struct ct_lpm_key k = { .prefixlen = 128 };
	__u32 zero = 0;
	__u8 one = 1;

	if (miss) { /* a host filter nothing below matches: 192.0.2.1 (TEST-NET-1) */
		k.addr[10] = k.addr[11] = 0xff;
		inet_pton(AF_INET, "192.0.2.1", &k.addr[12]);
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.ct_filter_host), &k, &one, BPF_ANY))
			return -errno;
		s.filter = CT_F_HOST;
	}
	return bpf_map_update_elem(bpf_map__fd(skel->maps.ct_settings), &zero, &s, BPF_ANY) ? -errno : 0;
}

static double run_n(int prog_fd, const __u8 *pkt, size_t len, int repeat)
{
	__u8 out[256];
	/* The packet "arrives" on --iface, so the ingress FIB lookup has a device to route from. */
	struct __sk_buff ctx = { .ifindex = opt.ifindex, .ingress_ifindex = opt.ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = repeat,
		    .ctx_in = opt.ifindex ? &ctx : NULL, .ctx_size_in = opt.ifindex ? sizeof(ctx) : 0);

	if (bpf_prog_test_run_opts(prog_fd, &o)) {
		fprintf(stderr, "calitrace-bench: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		exit(1);
	}
	return o.duration; /* mean ns per run */
}

static double run(int prog_fd, const __u8 *pkt, size_t len)
{
	return run_n(prog_fd, pkt, len, opt.repeat);
}

/* Fills a case-mode in-flight table as a busy node leaves it: an LRU hash (keys = fingerprints) is then full and evicts on every new
 * packet; a direct-mapped array (keys = set numbers) gets garbage that no packet matches. */
static int fill_inflight(struct bpf_map *map)
{
	int fd = bpf_map__fd(map);
	__u32 n = bpf_map__max_entries(map), ksz = bpf_map__key_size(map), vsz = bpf_map__value_size(map);
	bool array = bpf_map__type(map) == BPF_MAP_TYPE_ARRAY;
	__u8 *val = calloc(1, vsz);
	__u64 x = 0x9e3779b97f4a7c15ULL;

	if (!val)
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++) {
		__u64 key = 0;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: keys unlike any real fingerprint */
		memcpy(val, &x, vsz < 8 ? vsz : 8);
		if (array)
			key = i;
		else
			memcpy(&key, &x, ksz < 8 ? ksz : 8);
		if (bpf_map_update_elem(fd, &key, val, BPF_ANY)) {
			free(val);
			return -errno;
		}
	}
	free(val);
	return 0;
}

/* case-2cpu: the same flow on two CPUs at once, a packet of its own on each (so each has its own in-flight
 * entry), one case: what sharing a case's counters across CPUs costs. */
struct two_cpu_arg {
	int cpu, prog_fd;
	pthread_barrier_t *start;
	__u8 pkt[98];
	double ns;
};

static void *two_cpu_run(void *p)
{
	struct two_cpu_arg *a = p;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(a->start);
	a->ns = run_n(a->prog_fd, a->pkt, sizeof(a->pkt), opt.repeat);
	return NULL;
}

static void case_two_cpus(struct calitrace *skel, double base)
{
	const struct { const char *name; int fd; } hooks[] = {
		{ "egress", bpf_program__fd(skel->progs.ct_tc_egress) },
		{ "ingress", bpf_program__fd(skel->progs.ct_tc_ingress) },
	};
	pthread_barrier_t start;

	if (libbpf_num_possible_cpus() < 2)
		return;
	for (size_t h = 0; h < 2; h++) {
		struct two_cpu_arg a[2] = {};
		pthread_t t[2];

		pthread_barrier_init(&start, NULL, 2);
		for (int i = 0; i < 2; i++) {
			a[i].cpu = i;
			a[i].prog_fd = hooks[h].fd;
			a[i].start = &start;
			icmp_packet(a[i].pkt, "10.233.101.222", "10.233.101.224", (__u16)(100 + i));
			pthread_create(&t[i], NULL, two_cpu_run, &a[i]);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&start);
		printf("%-10s %-8s %-14s %12.1f %+14.1f\n", "icmp", hooks[h].name, "case-2cpu", (a[0].ns + a[1].ns) / 2,
		       (a[0].ns + a[1].ns) / 2 - base);
	}
}

/* case-fresh: opt.fresh packets, each with its own fingerprint, each once at ingress then once at
 * egress. The mean includes a clock read per run, so the baseline is measured the same way. */
static void run_fresh(struct calitrace *skel, const char *name, const char *label, bool vxlan, double base1)
{
	int ing = bpf_program__fd(skel->progs.ct_tc_ingress), eg = bpf_program__fd(skel->progs.ct_tc_egress);
	double sum_in = 0, sum_eg = 0;
	__u8 p[160];

	for (int i = 0; i < opt.fresh; i++) {
		__u16 seq = (__u16)(i * 7919 + 1); /* a new IP id and ICMP sequence for every packet */
		size_t len = vxlan ? vxlan_packet(p, seq) : icmp_packet(p, "10.233.101.222", "10.233.101.224", seq);

		sum_in += run_n(ing, p, len, 1);
		sum_eg += run_n(eg, p, len, 1);
	}
	printf("%-10s %-8s %-14s %12.1f %+14.1f\n", name, "ingress", label, sum_in / opt.fresh,
	       sum_in / opt.fresh - base1);
	printf("%-10s %-8s %-14s %12.1f %+14.1f\n", name, "egress", label, sum_eg / opt.fresh,
	       sum_eg / opt.fresh - base1);
}

/* --prog-stats-of: the BPF programs a process holds, from the prog_id lines of its fds' fdinfo. */
#define MAX_PROGS 32

struct prog_sample {
	__u32 id;
	int fd;
	char name[BPF_OBJ_NAME_LEN];
	__u64 cnt0, ns0;
};

static int progs_of(int pid, struct prog_sample *p)
{
	char path[64], line[128];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) && n < MAX_PROGS) {
		char fpath[320];
		FILE *f;
		__u32 id = 0;

		snprintf(fpath, sizeof(fpath), "%s/%s", path, d->d_name);
		f = fopen(fpath, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "prog_id: %u", &id) == 1)
				break;
		fclose(f);
		for (int i = 0; i < n && id; i++)
			if (p[i].id == id)
				id = 0; /* the same program held twice (a link and the program itself) */
		if (id)
			p[n++].id = id;
	}
	closedir(dir);
	return n;
}

static int sample(struct prog_sample *p, __u64 *cnt, __u64 *ns)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(p->fd, &info, &len))
		return -errno;
	memcpy(p->name, info.name, sizeof(p->name));
	*cnt = info.run_cnt;
	*ns = info.run_time_ns;
	return 0;
}

static volatile sig_atomic_t stop_stats;

static void on_stop(int sig)
{
	stop_stats = 1;
}

static int prog_stats(int pid)
{
	struct prog_sample p[MAX_PROGS] = {};
	int n = progs_of(pid, p), stats_fd, kept = 0;

	if (n <= 0) {
		fprintf(stderr, "calitrace-bench: no BPF program held by pid %d\n", pid);
		return 1;
	}
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		fprintf(stderr, "calitrace-bench: BPF_ENABLE_STATS: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		p[kept] = p[i];
		p[kept].fd = bpf_prog_get_fd_by_id(p[i].id);
		if (p[kept].fd >= 0 && !sample(&p[kept], &p[kept].cnt0, &p[kept].ns0))
			kept++;
	}
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	printf("READY %d programs\n", kept);
	fflush(stdout);
	while (!stop_stats)
		pause();
	printf("{\"programs\":[");
	for (int i = 0; i < kept; i++) {
		__u64 cnt, ns;

		if (sample(&p[i], &cnt, &ns))
			cnt = p[i].cnt0, ns = p[i].ns0;
		printf("%s{\"id\":%u,\"name\":\"%s\",\"runs\":%llu,\"ns\":%llu}", i ? "," : "", p[i].id, p[i].name,
		       (unsigned long long)(cnt - p[i].cnt0), (unsigned long long)(ns - p[i].ns0));
		close(p[i].fd);
	}
	printf("]}\n");
	close(stats_fd); /* the statistics stop with the last holder */
	return 0;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'n': opt.netns = arg; break;
	case 'f': opt.fixture = arg; break;
	case 'i': opt.iface = arg; break;
	case 's': opt.stats_pid = atoi(arg); break;
	case 'p':
		opt.fresh = atoi(arg);
		if (opt.fresh < 100 || opt.fresh > 65535)
			argp_error(state, "--fresh must be between 100 and 65535");
		break;
	case 'r':
		opt.repeat = atoi(arg);
		if (opt.repeat < 1000)
			argp_error(state, "--repeat must be at least 1000");
		break;
	case ARGP_KEY_ARG: argp_usage(state); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp_option opts[] = {
		{ "netns", 'n', "NAME", 0, "run in /var/run/netns/NAME (the FIB lookups read its tables)", 0 },
		{ "fixture", 'f', "OBJ", 0, "baseline tc program (default bpf/.output/fixture_tc.bpf.o)", 0 },
		{ "repeat", 'r', "N", 0, "runs per case (default 200000)", 0 },
		{ "iface", 'i', "IFNAME", 0, "device the packets arrive on (for the ingress FIB lookup)", 0 },
		{ "prog-stats-of", 's', "PID", 0, "real traffic: run time of the BPF programs PID holds, until SIGINT", 0 },
		{ "fresh", 'p', "N", 0, "case-fresh: distinct packets, each run once per hook (default 20000)", 0 },
		{},
	};
	static const struct argp argp = {
		.options = opts, .parser = parse_arg,
		.doc = "calitrace-bench: per-packet cost of the tc tracer, measured with BPF_PROG_TEST_RUN.\v"
		       "EXAMPLES:\n"
		       "  ip netns add ctbench && bpf/.output/calitrace-bench --netns ctbench; ip netns del ctbench\n"
		       "  bpf/.output/calitrace-bench --netns ct-node1 --iface cali11299111064\n",
	};
	struct calitrace *skel = NULL;
	struct bpf_object *fixture = NULL;
	struct ring_buffer *rb = NULL;
	pthread_t drainer;
	bool drainer_started = false;
	__u8 icmp[98], vxlan[160];
	size_t icmp_len, vxlan_len;
	double base;
	int rc = 1;

	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	if (opt.stats_pid)
		return prog_stats(opt.stats_pid);
	if (opt.netns) {
		char path[256];
		int fd;

		snprintf(path, sizeof(path), "/var/run/netns/%s", opt.netns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET)) {
			fprintf(stderr, "calitrace-bench: cannot enter %s: %s\n", path, strerror(errno));
			return 1;
		}
		close(fd);
	}
	if (opt.iface && !(opt.ifindex = if_nametoindex(opt.iface))) {
		fprintf(stderr, "calitrace-bench: no interface %s here\n", opt.iface);
		return 1;
	}
	icmp_len = icmp_packet(icmp, "10.233.101.222", "10.233.101.224", 1);
	vxlan_len = vxlan_packet(vxlan, 1);

	fixture = bpf_object__open_file(opt.fixture, NULL);
	if (!fixture || bpf_object__load(fixture)) {
		fprintf(stderr, "calitrace-bench: cannot load the baseline %s (run make -C bpf)\n", opt.fixture);
		goto out;
	}
	skel = calitrace__open();
	if (!skel)
		goto out;
	bpf_program__set_autoload(skel->progs.ct_kfree_skb, false);
	if (calitrace__load(skel)) {
		fprintf(stderr, "calitrace-bench: loading the tracer failed (run as root)\n");
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.ct_events), count_record, NULL, NULL);
	if (!rb || pthread_create(&drainer, NULL, drain, rb))
		goto out;
	drainer_started = true;

	/* Warm up caches and the CPU clock before the first figure counts. */
	run(bpf_program__fd(skel->progs.ct_tc_ingress), icmp, icmp_len);
	base = run(bpf_program__fd(bpf_object__next_program(fixture, NULL)), icmp, icmp_len);
	printf("repeat %d per case; baseline tc program (one atomic add): %.1f ns/packet\n", opt.repeat, base);
	printf("%-10s %-8s %-14s %12s %14s\n", "packet", "hook", "case", "ns/packet", "over baseline");
	{
		static const struct { const char *name; __u32 mode; bool miss; } cases[] = {
			{ "filter-miss", CT_MODE_PACKET, true }, { "packet-mode", CT_MODE_PACKET, false },
			{ "flow-mode", CT_MODE_FLOW, false }, { "case-same", CT_MODE_CASE, false },
		};
		const struct { const char *name; const __u8 *p; size_t len; } pkts[] = {
			{ "icmp", icmp, icmp_len }, { "vxlan+icmp", vxlan, vxlan_len },
		};
		const struct { const char *name; int fd; } hooks[] = {
			{ "egress", bpf_program__fd(skel->progs.ct_tc_egress) },
			{ "ingress", bpf_program__fd(skel->progs.ct_tc_ingress) },
		};

		for (size_t p = 0; p < 2; p++)
			for (size_t h = 0; h < 2; h++)
				for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
					double ns;

					if (set_mode(skel, cases[c].mode, cases[c].miss))
						goto out;
					ns = run(hooks[h].fd, pkts[p].p, pkts[p].len);
					printf("%-10s %-8s %-14s %12.1f %+14.1f\n", pkts[p].name, hooks[h].name,
					       cases[c].name, ns, ns - base);
				}
	}
	if (set_mode(skel, CT_MODE_CASE, false))
		goto out;
	case_two_cpus(skel, base);
	{
		double base1 = 0;
		int fixture_fd = bpf_program__fd(bpf_object__next_program(fixture, NULL));

		for (int i = 0; i < opt.fresh; i++)
			base1 += run_n(fixture_fd, icmp, icmp_len, 1);
		base1 /= opt.fresh;
		printf("case-fresh: %d distinct packets, in-flight tables filled first; baseline run once per packet: "
		       "%.1f ns/packet; miss-fresh: the filter-miss path run the same way (what running each packet\n"
		       "once costs a program that touches no table: cold caches after the syscall)\n", opt.fresh, base1);
		for (int v = 0; v < 2; v++) {
			const char *name = v ? "vxlan+icmp" : "icmp";

			if (set_mode(skel, CT_MODE_PACKET, true))
				goto out;
			run_fresh(skel, name, "miss-fresh", v, base1);
			/* Builds before the one-table change (bench.c compiled against their BPF side, to compare
			 * them in one run) also had an LRU by NAT fingerprint: fill it as well. */
			struct bpf_map *nat = bpf_object__find_map_by_name(skel->obj, "ct_inflight_nat");

			if (set_mode(skel, CT_MODE_CASE, false) || fill_inflight(skel->maps.ct_inflight) ||
			    (nat && fill_inflight(nat))) {
				fprintf(stderr, "calitrace-bench: cannot prepare case mode: %s\n", strerror(errno));
				goto out;
			}
			run_fresh(skel, name, "case-fresh", v, base1);
		}
	}
	{
		__u64 *vals = calloc(libbpf_num_possible_cpus(), sizeof(__u64)), lost = 0;
		__u32 k = CT_CNT_RB_FAIL;

		if (vals && !bpf_map_lookup_elem(bpf_map__fd(skel->maps.ct_counters), &k, vals))
			for (int i = 0; i < libbpf_num_possible_cpus(); i++)
				lost += vals[i];
		printf("records: %llu drained (%llu with a FIB answer), %llu reserve failures (ring full: the\n"
		       "drainer thread could not keep up, so part of packet mode measured the cheaper failure path)\n",
		       (unsigned long long)drained, (unsigned long long)fib_answered, (unsigned long long)lost);
		free(vals);
	}
	rc = 0;
out:
	draining = 0;
	if (drainer_started)
		pthread_join(drainer, NULL);
	ring_buffer__free(rb);
	calitrace__destroy(skel);
	bpf_object__close(fixture);
	return rc;
}
