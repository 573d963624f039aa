// SPDX-License-Identifier: Apache-2.0
/*
 * What the loader's modules share: constants, the options (env), the run state (st), and the
 * functions one module offers the others. loader.c holds main (open -> configure -> load -> attach ->
 * poll -> cleanup); output.c writes frames; hello.c builds HELLO (drop reasons from BTF); links.c
 * attaches to interfaces and follows netlink; commands.c runs stdin commands; flows.c flushes flow
 * counters.
 */
#ifndef CALITRACE_LOADER_H
#define CALITRACE_LOADER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <net/if.h>
#include <bpf/libbpf.h>
#include "event.h"
#include "maps.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "docs/protocol.md fixes little-endian integers; this host is big-endian"
#endif

struct calitrace; /* the skeleton (calitrace.skel.h) */

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
#define CONSUME_ROUND 8192 /* records per ring_buffer__consume() before stdin/netlink get a turn */
#define BATCH_WINDOW_NS 2000000ull /* the most a record waits for company before it is written */

struct env {
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
};
extern struct env env;

struct iface {
	int ifindex;
	char name[IF_NAMESIZE];
	int vxlan_link; /* a Calico VXLAN device: its underlay ifindex, the uplink (0 unknown) */
	bool attached;
	bool failed; /* attach failed; not retried on every link event */
	bool seen;   /* listed by the resynchronising dump */
	int how;
	int role;
	int fd_in, fd_out; /* TCX link fds */
};

struct state {
	struct calitrace *skel; /* calitrace.skel.h */
	struct bpf_link *drops_link;
	int nl_fd;
	__u32 nl_seq;
	__u32 resync_seq; /* sequence of a dump that replaces missed events (0: none running) */
	struct iface *ifs;
	int nifs, cap_ifs;
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
	int consumed_in_round; /* records taken by the current ring_buffer__consume() */
	__u64 batch_since; /* when the oldest record of the batch arrived */
	/* counters for STATS */
	__u64 events_sent, frames_sent, flow_records;
	/* stdin */
	char line[MAX_LINE];
	size_t line_len;
	bool line_overflow;
};
extern struct state st;

extern volatile sig_atomic_t exiting;

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

static inline __u64 now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* output.c */
void out_flush(void);
void out_frame(__u16 type, const void *p1, size_t n1, const void *p2, size_t n2, const void *p3, size_t n3);
void events_flush(void);
void event_add(const struct ct_event *e);
int on_event(void *ctx, void *data, size_t size); /* ring_buffer callback */
void send_error(int err, bool fatal, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void send_link(const struct iface *ifc, int state);
void send_ack(const char *line, int status, const char *msg);
void send_stats(void);
int write_golden(void);

/* hello.c */
void *reason_table_build(void *arg); /* pthread entry: fills a struct reason_table */
int send_hello(__u32 netns_ino, struct reason_table *rt);

/* links.c */
int pattern_add(const char *p);
int pattern_del(const char *p);
void evaluate_all(void);
void detach_iface(struct iface *ifc, bool gone);
int nl_open(void);
int nl_dump_links(void);
int nl_read(__u32 until_seq); /* 1 once the dump with until_seq is complete */
int show_iface(const char *name);

/* commands.c */
int settings_put(const struct ct_settings *s);
int cmd_filter(char *args, char *msg, size_t msglen);
bool read_stdin(void); /* false at EOF */

/* flows.c */
void flow_flush(void);

/* snap.c: packet snapshots for pcapng (snap.h) */
void snap_set_len(__u32 n);
void snap_configure(struct calitrace *skel, int ringbuf_mb);
int snap_attach(void);
int snap_poll_fd(void); /* -1 when off */
void snap_consume(void);
void snap_tick(__u64 now);
void snap_flush(void);
void snap_drain(void); /* at exit: what is left in the ring, then a frame */
int snap_write_golden(void);

#endif /* CALITRACE_LOADER_H */
