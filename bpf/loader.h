// SPDX-License-Identifier: Apache-2.0
/*
 * What the loader's modules offer each other. loader.c holds main (open -> configure -> load -> attach
 * -> poll -> cleanup) and the command line; output.c writes frames; hello.c builds HELLO (drop reasons
 * from BTF); links.c attaches to interfaces and follows netlink; commands.c runs stdin commands;
 * flows.c flushes flow counters; cases.c runs case mode's epoch clock; snap.c batches packet snapshots.
 * Each module owns its state in a struct of its own declared in its section below (struct output,
 * links, commands, flow_reporter, case_clock, snapshots); main creates them and passes each, explicitly,
 * to the functions that need it. No module reads another's fields: it calls the owner's functions.
 * The only global is `exiting`, which a signal handler sets. docs/capture.md "The loader's modules".
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
#include "record.h"
#include "maps.h"
#include "snap.h"

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

/* --attach-mode: TCX with the clsact fallback, TCX only, or clsact only. */
enum attach_mode { ATTACH_AUTO, ATTACH_TCX, ATTACH_TC };

#define MAX_PATTERNS 32
#define MAX_LINE 1024
#define EV_BATCH_BYTES (63 * 1024) /* record bytes per EVENTS frame at most */
#define OUT_FLUSH (64 * 1024)   /* write stdout once this much is buffered */
#define OUT_CAP (512 * 1024)
#define CONSUME_ROUND 8192 /* records per ring_buffer__consume() before stdin/netlink get a turn */

/* The one process-wide flag: set by SIGINT/SIGTERM (hence a global), by EOF on stdin, by the quit
 * command and by a stdout nobody reads. */
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

/* output.c: frames on stdout; owns the output buffer, the EVENTS batch, the frame numbering and what
 * STATS says of them. */
struct output {
	unsigned char *buf; /* whole frames, written in large batches */
	size_t len;
	__u32 seq;          /* the next frame's seq */
	bool broken;        /* nobody reads stdout any more (or a stuck reader outlived the exit deadline) */
	__u64 exit_deadline; /* while exiting: stop waiting for a stuck reader after this */
	unsigned char batch[EV_BATCH_BYTES]; /* wire records back to back (each ct_rec.size long) */
	size_t batch_len;
	int nbatch;
	int consumed_in_round; /* records taken by the current events_consume() */
	__u64 events_sent, frames_sent;
	__u64 rb_fail_reported; /* rb_fail_total of the last STATS frame */
};
int output_open(struct output *o); /* 0 or -ENOMEM */
void output_close(struct output *o);
bool output_broken(const struct output *o);
bool output_pending(const struct output *o); /* bytes buffered, not yet written */
bool events_pending(const struct output *o); /* records batched, not yet in a frame */
void out_flush(struct output *o);
void out_frame(struct output *o, __u16 type, const void *p1, size_t n1, const void *p2, size_t n2,
	       const void *p3, size_t n3);
void events_flush(struct output *o);
void event_add(struct output *o, const struct ct_event *e); /* encodes it (record.h) */
void record_add(struct output *o, const void *rec, size_t size); /* a wire record as it is */
struct ring_buffer *events_reader(struct output *o, int ringbuf_fd); /* records land in o's batch */
int events_consume(struct output *o, struct ring_buffer *rb);
void send_error(struct output *o, int err, bool fatal, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
struct iface;
void send_link(struct output *o, const struct iface *ifc, enum ct_link_state state);
void send_ack(struct output *o, const char *line, int status, const char *msg);
void send_stats(struct output *o, struct calitrace *skel, int ncpus, __u32 links_attached, __u64 flow_records);
bool loss_unreported(const struct output *o, struct calitrace *skel, int ncpus);
int write_golden(struct output *o);

/* hello.c: HELLO; stateless apart from the reason table main hands it. */
void *reason_table_build(void *arg); /* pthread entry: fills a struct reason_table */
struct hello_facts {
	__u32 netns_ino;
	int ncpus;
	enum ct_mode mode;       /* the start mode */
	enum attach_mode attach; /* as asked: CT_FEAT_CLSACT only for --attach-mode tc */
	bool drops;              /* the kfree_skb reporter is attached */
};
int send_hello(struct output *out, struct reason_table *rt, const struct hello_facts *f);

/* links.c: which interfaces carry the tracer, and how; owns the interface table, the attach patterns
 * and the rtnetlink socket. */
struct iface {
	int ifindex;
	char name[IF_NAMESIZE];
	int vxlan_link; /* a Calico VXLAN device: its underlay ifindex, the uplink (0 unknown) */
	bool attached;
	bool failed; /* attach failed; not retried on every link event */
	bool seen;   /* listed by the resynchronising dump */
	enum ct_link_how how;
	enum ct_link_role role; /* a set of CT_ROLE_* bits */
	int fd_in, fd_out; /* TCX link fds */
};

struct links {
	struct output *out; /* where LINK and ERROR frames go */
	int prog_in, prog_out; /* the tc programs */
	enum attach_mode attach;
	bool uplinks;         /* the underlay of a Calico VXLAN device is attached too */
	bool tcx_unavailable; /* the kernel refused TCX once: clsact from then on */
	char *patterns[MAX_PATTERNS];
	int npatterns;
	struct iface *ifs;
	int nifs, cap_ifs;
	int nl_fd;
	__u32 nl_seq;
	__u32 resync_seq; /* sequence of a dump that replaces missed events (0: none running) */
};
#define LINKS_INIT { .nl_fd = -1 }
int pattern_add(struct links *l, const char *p);
int pattern_del(struct links *l, const char *p);
void links_configure(struct links *l, struct output *out, int prog_in, int prog_out, enum attach_mode attach,
		     bool uplinks);
int links_open(struct links *l); /* the rtnetlink socket; 0 or -errno */
int links_dump(struct links *l); /* every current link evaluated; 0 or -errno */
int links_fd(const struct links *l);
void links_read(struct links *l); /* link events that arrived */
void evaluate_all(struct links *l); /* after a pattern change: attach, detach, retry failed ones */
void links_announce(struct links *l);
__u32 links_attached_count(const struct links *l);
void links_detach_all(struct links *l);
void links_close(struct links *l);
int show_iface(const char *name);

/* commands.c: stdin commands; owns the line being read and the mode in effect, and names the modules
 * the commands drive. */
struct flow_reporter;
struct commands {
	struct calitrace *skel;
	struct output *out;
	struct links *links;
	struct flow_reporter *flows;
	int ncpus;
	enum ct_mode mode; /* in effect in the kernel: --mode, then the mode command */
	char line[MAX_LINE];
	size_t line_len;
	bool line_overflow;
};
void commands_init(struct commands *c, struct calitrace *skel, struct output *out, struct links *links,
		   struct flow_reporter *flows, int ncpus, enum ct_mode mode);
enum ct_mode commands_mode(const struct commands *c);
bool read_stdin(struct commands *c); /* false at EOF */
int mode_parse(const char *name, enum ct_mode *mode); /* 0 or -EINVAL */
int settings_put(struct calitrace *skel, const struct ct_settings *s);
int cmd_filter(struct calitrace *skel, char *args, char *msg, size_t msglen);

/* cases.c: the case-mode epoch clock; owns its state. */
struct case_clock {
	__u64 epoch_ns;
	__u64 next_ns;
	__u32 epoch; /* the epoch counting now */
};
void case_clock_start(struct case_clock *cc, __u64 now, int epoch_ms);
__u64 case_clock_due(const struct case_clock *cc);
int case_clock_tick(struct case_clock *cc, struct calitrace *skel, struct output *out, __u64 now); /* 1 when an epoch ended */
void case_clock_drain(struct case_clock *cc, struct calitrace *skel, struct output *out);

/* flows.c: flow mode's reports; owns its state. */
struct flow_rep {
	__u64 packets, bytes;
};
struct flow_reporter {
	int rep_fd;       /* user-space-only map: flow counters already reported */
	unsigned flushes; /* for the periodic clean-up of evicted flows */
	__u64 records;    /* kind-2 records sent (STATS flow_records) */
};
int flow_reporter_open(struct flow_reporter *fr); /* 0 or -errno */
void flow_reporter_close(struct flow_reporter *fr);
__u64 flow_records_sent(const struct flow_reporter *fr);
void flow_flush(struct flow_reporter *fr, struct calitrace *skel, struct output *out);

/* snap.c: packet snapshots for pcapng (snap.h); owns their batch and their ring buffer reader. */
#define SNAP_FLUSH (60 * 1024) /* one frame stays well under CT_FRAME_MAX_PAYLOAD */
struct snapshots {
	struct output *out;
	struct calitrace *skel;
	int ncpus;
	__u32 snaplen;  /* 0: off */
	__u64 wait_ns;  /* a batch waits this long at most: the drain interval */
	unsigned char buf[SNAP_FLUSH + CT_SNAP_HDR_SIZE + CT_SNAP_MAX];
	size_t len;
	__u32 count;
	__u64 since;          /* when the batch's first snapshot came */
	__u64 lost_reported;  /* lost_total of the last SNAP frame */
	/* A reader of its own: in one ring_buffer with the events, a flood of events (whose callback
	 * stops a round with -EAGAIN) would keep libbpf from ever reaching the snapshot ring. */
	struct ring_buffer *rb;
	int consumed; /* snapshots taken by the current snap_consume() */
};
void snaps_init(struct snapshots *sn, struct output *out, __u32 snaplen, int wakeup_ms);
void snap_configure(struct snapshots *sn, struct calitrace *skel, int ringbuf_mb, int ncpus); /* before load */
int snap_attach(struct snapshots *sn); /* after load: the reader */
int snap_poll_fd(const struct snapshots *sn); /* -1 when off */
void snap_consume(struct snapshots *sn);
void snap_tick(struct snapshots *sn, __u64 now);
void snap_flush(struct snapshots *sn);
void snap_drain(struct snapshots *sn); /* at exit: what is left in the ring, then a frame */
int snap_write_golden(struct snapshots *sn);

#endif /* CALITRACE_LOADER_H */
