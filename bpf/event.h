/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one definition of calitrace's wire format: the event record (struct ct_rec and its optional
 * parts, written by record.h's one encoder) the BPF programs put in the ring buffer and the loader copies
 * unchanged into EVENTS frames on stdout, plus the frame header and the fixed parts of the other frames.
 * (struct ct_event, the programs' full view of a packet, is here too but is not on the wire.) docs/protocol.md documents the same bytes for decoders; the
 * _Static_asserts at the end pin every offset that document names, so the two cannot drift apart
 * silently.
 *
 * Byte order: integers are little-endian (host order; the loader refuses to build for big-endian
 * hosts). Addresses are raw network-order bytes. Ports, ICMP id/seq and the IP id are converted to
 * host order by the BPF side, so decoders never swap.
 */
#ifndef CALITRACE_EVENT_H
#define CALITRACE_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bumped on any incompatible change to a frame or the record. Protocol 2: variable-length records
 * (struct ct_rec and its optional parts) instead of protocol 1's fixed 200-byte struct ct_event. */
#define CT_PROTOCOL_VERSION 2
#define CT_FRAME_MAGIC 0x52544354u /* bytes on the wire: 54 43 54 52 ("TCTR") */

enum ct_kind {
	CT_KIND_PACKET = 1, /* a tc hook saw the packet */
	CT_KIND_FLOW = 2,   /* flow mode: counters flushed for one flow at one hop */
	CT_KIND_DROP = 3,   /* skb:kfree_skb saw a traced packet die */
};

enum ct_dir {
	CT_DIR_INGRESS = 0,
	CT_DIR_EGRESS = 1,
	CT_DIR_NONE = 2, /* drops: not seen at a tc hook */
};

/* Parser findings, a bitmask in ct_event.anomalies. A record with anomalies still carries every field
 * that could be read before the problem. */
enum ct_anomaly {
	CT_ANOM_TRUNCATED = 1u << 0,      /* a header ended before its fixed length */
	CT_ANOM_BAD_IHL = 1u << 1,        /* IPv4 IHL < 5 */
	CT_ANOM_FRAGMENT = 1u << 2,       /* IPv4/IPv6 fragment (MF set or offset != 0) */
	CT_ANOM_IPV6_EXT_LIMIT = 1u << 3, /* more IPv6 extension headers than CT_MAX_IPV6_EXT */
	CT_ANOM_BAD_VXLAN = 1u << 4,      /* UDP 4789 without the VXLAN I flag, or inner not parseable */
	CT_ANOM_BAD_IP_VERSION = 1u << 5, /* version nibble does not match the ethertype */
	CT_ANOM_BAD_IP_LEN = 1u << 6,     /* IPv4 total length < header length */
	CT_ANOM_VLAN_LIMIT = 1u << 7,     /* more VLAN tags than CT_MAX_VLAN */
	CT_ANOM_BAD_L4 = 1u << 8,         /* TCP data offset < 5 */
	CT_ANOM_NON_FIRST_FRAG = 1u << 9, /* fragment with offset != 0: no L4 header to read */
};

#define CT_MAX_VLAN 2
#define CT_MAX_IPV6_EXT 6
#define CT_VXLAN_PORT 4789
#define CT_FIB_NOT_RUN 0xff /* ct_event.fib_result when no FIB lookup was made (egress, drops) */

/*
 * The programs' full view of one packet at one hook: the per-CPU scratch record the parser, the filter,
 * the flow and case accounting fill. NOT on the wire since protocol 2: ct_record_encode() (record.h)
 * writes the compact record (struct ct_rec + the parts that apply) from it. For VXLAN packets the L3/L4
 * fields and the fingerprint describe the INNER packet and the tun_* fields the outer one.
 */
struct ct_event {
	__u64 ts_ns;       /*   0 bpf_ktime_get_ns() (CLOCK_MONOTONIC); flow: time of the last packet */
	__u64 fingerprint; /*   8 same packet => same value at every hop, on every node */
	__u64 packets;     /*  16 packet/drop: 1; flow: packets since the previous flush */
	__u64 bytes;       /*  24 packet/drop: len; flow: bytes since the previous flush */
	__u32 ifindex;     /*  32 device of the hook; drops: skb->dev (0 when none) */
	__u32 len;         /*  36 skb->len at the hook */
	__u32 mark;        /*  40 skb->mark */
	__u32 anomalies;   /*  44 enum ct_anomaly bits */
	__u32 ip_id;       /*  48 IPv4 id, or IPv6 fragment id (0 when none) */
	__u32 drop_reason; /*  52 kind DROP: enum skb_drop_reason value; else 0 */
	__u32 fib_ifindex; /*  56 bpf_fib_lookup() egress ifindex (0 when none) */
	__u32 vni;         /*  60 VXLAN VNI (valid when tun_family != 0) */
	__u8 kind;         /*  64 enum ct_kind */
	__u8 dir;          /*  65 enum ct_dir */
	__u8 family;       /*  66 4 or 6 (inner packet); 0 when not IP */
	__u8 proto;        /*  67 IP protocol of the (inner) packet */
	__u8 tcp_flags;    /*  68 TCP flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 ...) */
	__u8 ttl;          /*  69 IPv4 TTL / IPv6 hop limit */
	__u8 icmp_type;    /*  70 ICMP / ICMPv6 type */
	__u8 icmp_code;    /*  71 ICMP / ICMPv6 code */
	__u16 sport;       /*  72 TCP/UDP source port (host order) */
	__u16 dport;       /*  74 TCP/UDP destination port (host order) */
	__u16 icmp_id;     /*  76 echo identifier (host order) */
	__u16 icmp_seq;    /*  78 echo sequence (host order) */
	__u8 fib_result;   /*  80 BPF_FIB_LKUP_RET_*; CT_FIB_NOT_RUN when no lookup was made */
	__u8 fib_family;   /*  81 family of fib_nexthop: 0 none, 4, 6 */
	__u8 tun_family;   /*  82 outer family of a VXLAN packet: 0 no tunnel, 4, 6 */
	__u8 _pad0;        /*  83 zero */
	__u16 vlan;        /*  84 outermost VLAN id (0 none) */
	__u16 tun_sport;   /*  86 outer UDP source port */
	__u16 tun_dport;   /*  88 outer UDP destination port */
	__u16 _pad1;       /*  90 zero */
	__u32 nat_fp;      /*  92 fingerprint of what NAT keeps (no addresses, ports, ICMP id); 0 when not IP */
	__u8 src[16];      /*  96 source address; IPv4 in the first 4 bytes, rest zero */
	__u8 dst[16];      /* 112 destination address, same layout */
	__u8 fib_nexthop[16]; /* 128 next hop from the FIB (all zero: directly connected / none) */
	__u8 tun_src[16];  /* 144 outer source address */
	__u8 tun_dst[16];  /* 160 outer destination address */
	/* Case mode (the kernel aggregates packets; see docs/protocol.md "Cases"); 0 in other modes. */
	__u64 case_id;     /* 176 this hop's case: hash of prev_case, the hook, the flow, the FIB answer, ... */
	__u64 prev_case;   /* 184 the case of the packet's previous hop on this node (0: first hop) */
	__u32 epoch;       /* 192 counting epoch of the packet (its first hop) */
	__u32 _pad2;       /* 196 zero */
};                         /* 200 */

#define CT_EVENT_SIZE 200

/*
 * The wire record (protocol 2): every record is a struct ct_rec (the base), then, in the order of their
 * bits in `parts`, the optional parts that apply — so the common case (an IPv4 packet at an egress hook)
 * is the 72-byte base alone. `size` is the record's total length; a decoder walks an EVENTS frame by it
 * and refuses a record whose size disagrees with its parts. All sizes are multiples of 8, so every part
 * and every u64 stays 8-byte aligned in the ring and in the frame.
 */
struct ct_rec {
	__u16 size;        /*  0 bytes of this record: sizeof(struct ct_rec) + the sizes of its parts */
	__u8 parts;        /*  2 enum ct_rec_part bits: which parts follow the base, in bit order */
	__u8 kind;         /*  3 enum ct_kind */
	__u8 dir;          /*  4 enum ct_dir */
	__u8 family;       /*  5 4 or 6 (inner packet); 0 when not IP */
	__u8 proto;        /*  6 IP protocol of the (inner) packet */
	__u8 tcp_flags;    /*  7 TCP flags byte */
	__u64 ts_ns;       /*  8 bpf_ktime_get_ns() (CLOCK_MONOTONIC); flow: time of the last packet */
	__u64 fingerprint; /* 16 same packet => same value at every hop, on every node; flow: 0 */
	__u32 ifindex;     /* 24 device of the hook; drops: skb->dev (0 when none) */
	__u32 len;         /* 28 skb->len at the hook */
	__u32 mark;        /* 32 skb->mark */
	__u32 anomalies;   /* 36 enum ct_anomaly bits */
	__u32 ip_id;       /* 40 IPv4 id, or IPv6 fragment id (0 when none) */
	__u32 nat_fp;      /* 44 fingerprint of what NAT keeps; 0 when not IP */
	__u8 ttl;          /* 48 IPv4 TTL / IPv6 hop limit */
	__u8 icmp_type;    /* 49 ICMP / ICMPv6 type */
	__u8 icmp_code;    /* 50 ICMP / ICMPv6 code */
	__u8 _pad0;        /* 51 zero */
	__u16 sport;       /* 52 TCP/UDP source port (host order) */
	__u16 dport;       /* 54 TCP/UDP destination port (host order) */
	__u16 icmp_id;     /* 56 echo identifier (host order) */
	__u16 icmp_seq;    /* 58 echo sequence (host order) */
	__u16 vlan;        /* 60 outermost VLAN id (0 none) */
	__u16 _pad1;       /* 62 zero */
	__u8 src4[4];      /* 64 IPv4 source address (family 4; zero otherwise: IPv6 is in part ip6) */
	__u8 dst4[4];      /* 68 IPv4 destination address */
};                         /* 72 */

/* Which optional parts follow the base. Bit i is member i + 1 of struct ct_rec_max (its order is the
 * order of the parts in a record; scripts/gen-event-layout.js derives the TypeScript bits from it). */
enum ct_rec_part {
	CT_PART_IP6 = 1u << 0,    /* family 6: the addresses */
	CT_PART_FIB = 1u << 1,    /* a bpf_fib_lookup() was made (ingress) */
	CT_PART_TUN = 1u << 2,    /* a VXLAN packet: the outer header */
	CT_PART_CASE = 1u << 3,   /* case mode: the hop's case */
	CT_PART_COUNTS = 1u << 4, /* kind FLOW: the counters */
	CT_PART_DROP = 1u << 5,   /* kind DROP: the kernel's reason */
};
#define CT_PARTS_KNOWN 0x3fu

struct ct_rec_ip6 {
	__u8 src[16]; /*  0 */
	__u8 dst[16]; /* 16 */
};                    /* 32 */

struct ct_rec_fib {
	__u32 ifindex;      /*  0 egress ifindex the FIB chose (0 when none) */
	__u8 result;        /*  4 BPF_FIB_LKUP_RET_* */
	__u8 nexthop_family; /* 5 family of nexthop: 0 none (directly connected), 4, 6 */
	__u16 _pad0;        /*  6 zero */
	__u8 nexthop[16];   /*  8 the gateway (IPv4 in the first 4 bytes) */
};                          /* 24 */

struct ct_rec_tun {
	__u32 vni;         /*  0 VXLAN VNI */
	__u16 sport;       /*  4 outer UDP source port */
	__u16 dport;       /*  6 outer UDP destination port */
	__u8 family;       /*  8 outer family: 4 or 6 */
	__u8 _pad0[7];     /*  9 zero */
	__u8 src[16];      /* 16 outer source address (IPv4 in the first 4 bytes) */
	__u8 dst[16];      /* 32 outer destination address */
};                         /* 48 */

struct ct_rec_case {
	__u64 case_id;   /*  0 this hop's case */
	__u64 prev_case; /*  8 the case of the packet's previous hop on this node (0: first hop) */
	__u32 epoch;     /* 16 counting epoch of the packet (its first hop) */
	__u32 _pad0;     /* 20 zero */
};                       /* 24 */

struct ct_rec_counts {
	__u64 packets; /* 0 packets since the previous flush */
	__u64 bytes;   /* 8 bytes since the previous flush */
};                     /* 16 */

struct ct_rec_drop {
	__u32 reason; /* 0 enum skb_drop_reason value */
	__u32 _pad0;  /* 4 zero */
};                    /* 8 */

/* The largest record: the base and every part, in their order. Also the BPF side's per-CPU buffer. */
struct ct_rec_max {
	struct ct_rec base;
	struct ct_rec_ip6 ip6;
	struct ct_rec_fib fib;
	struct ct_rec_tun tun;
	struct ct_rec_case cse;
	struct ct_rec_counts counts;
	struct ct_rec_drop drop;
};

#define CT_REC_BASE_SIZE 72
#define CT_REC_MAX_SIZE 224

/* Every frame on stdout starts with this header; `length` payload bytes follow it. */
struct ct_frame_hdr {
	__u32 magic;   /*  0 CT_FRAME_MAGIC */
	__u16 version; /*  4 CT_PROTOCOL_VERSION */
	__u16 type;    /*  6 enum ct_frame_type */
	__u32 length;  /*  8 payload bytes after this header */
	__u32 seq;     /* 12 frame sequence number, 0 for the first frame, +1 per frame */
};                     /* 16 */

#define CT_FRAME_HDR_SIZE 16
#define CT_FRAME_MAX_PAYLOAD (1u << 20) /* a decoder may treat a larger length as corruption */

enum ct_frame_type {
	CT_FRAME_HELLO = 1,
	CT_FRAME_EVENTS = 2,
	CT_FRAME_STATS = 3,
	CT_FRAME_LINK = 4,
	CT_FRAME_ERROR = 5,
	CT_FRAME_ACK = 6,
	CT_FRAME_BYE = 7,
	CT_FRAME_CASES = 8,
};

/* CASES payload (case mode): this, then `count` entries of struct ct_case_entry. One or more frames per
 * finished epoch; the packets of every case whose packets' first hop fell in `epoch`. */
struct ct_cases_hdr {
	__u32 epoch;      /* 0 */
	__u32 count;      /* 4 */
	__u32 entry_size; /* 8 sizeof(struct ct_case_entry) */
	__u32 last;       /* 12 1 on the epoch's last CASES frame */
};                        /* 16 */

struct ct_case_entry {
	__u64 case_id; /* 0 */
	__u64 packets; /* 8 packets that passed this hop case */
	__u64 bytes;   /* 16 */
};                     /* 24 */

/* EVENTS payload: this, then `count` records back to back, each `ct_rec.size` bytes long. */
struct ct_events_hdr {
	__u32 count;     /* 0 */
	__u32 base_size; /* 4 sizeof(struct ct_rec): CT_REC_BASE_SIZE in protocol 2 */
};                       /* 8 */

/* HELLO features bits. */
enum ct_feature {
	CT_FEAT_TCX = 1u << 0,        /* links are attached with TCX */
	CT_FEAT_CLSACT = 1u << 1,     /* links are attached with clsact filters (fallback) */
	CT_FEAT_DROPS = 1u << 2,      /* tp_btf/kfree_skb drop reporting is attached */
	CT_FEAT_FIB = 1u << 3,        /* ingress records carry bpf_fib_lookup() */
	CT_FEAT_FLOW_MODE = 1u << 4,  /* flow mode is available */
};

/* HELLO payload: this, then kernel_release_len bytes of `uname -r`, then reason_count entries of
 * { __u32 value; __u16 name_len; name bytes } for enum skb_drop_reason (names without the
 * SKB_DROP_REASON_ prefix, from the running kernel's BTF). */
struct ct_hello {
	__u16 protocol_version;   /*  0 CT_PROTOCOL_VERSION */
	__u16 record_size;        /*  2 CT_REC_BASE_SIZE: the base of a record (parts follow it) */
	__u32 features;           /*  4 enum ct_feature bits */
	__u32 ncpus;              /*  8 possible CPUs (length of the per-CPU arrays in STATS) */
	__u32 pid;                /* 12 loader pid */
	__s64 realtime_offset_ns; /* 16 CLOCK_REALTIME - CLOCK_MONOTONIC at start: wall = ts_ns + this */
	__u32 mode;               /* 24 0 packet, 1 flow, 2 case */
	__u32 netns_ino;          /* 28 inode of the network namespace traced */
	__u32 reason_count;       /* 32 number of drop-reason entries */
	__u16 kernel_release_len; /* 36 */
	__u16 _pad0;              /* 38 */
};                                /* 40 */

/* STATS payload: this, then ncpus x __u64 ring-buffer reserve failures per CPU. All counters are
 * running totals since the loader started. */
struct ct_stats {
	__u64 ts_ns;          /*  0 CLOCK_MONOTONIC when sampled */
	__u64 events_sent;    /*  8 records written to stdout */
	__u64 frames_sent;    /* 16 frames written to stdout (this one excluded) */
	__u64 rb_fail_total;  /* 24 sum of the per-CPU reserve failures: events lost in the kernel */
	__u64 pkts_seen;      /* 32 tc hook runs (every packet, before filtering) */
	__u64 pkts_matched;   /* 40 packets that passed the filter */
	__u64 drops_seen;     /* 48 kfree_skb of matching packets in our netns */
	__u64 flow_records;   /* 56 flow records emitted by flushes */
	__u64 links_attached; /* 64 links attached right now */
	__u32 ncpus;          /* 72 */
	__u32 _pad0;          /* 76 */
};                            /* 80 */

enum ct_link_state {
	CT_LINK_DETACHED = 0,
	CT_LINK_ATTACHED = 1,
	CT_LINK_FAILED = 2, /* attach failed; an ERROR frame says why */
};

enum ct_link_how {
	CT_HOW_NONE = 0,
	CT_HOW_TCX = 1,
	CT_HOW_TC = 2, /* clsact filter */
};

enum ct_link_role {
	CT_ROLE_PATTERN = 1u << 0, /* matched an attach pattern (cali*, vxlan.calico, ...) */
	CT_ROLE_UPLINK = 1u << 1,  /* the underlay device of vxlan.calico */
};

/* LINK payload: this, then name_len bytes of the interface name. */
struct ct_link {
	__u32 ifindex;  /* 0 */
	__u8 state;     /* 4 enum ct_link_state */
	__u8 how;       /* 5 enum ct_link_how */
	__u8 role;      /* 6 enum ct_link_role bits */
	__u8 _pad0;     /* 7 */
	__u16 name_len; /* 8 */
	__u16 _pad1;    /* 10 */
};                      /* 12 */

/* ERROR payload: this, then msg_len bytes of UTF-8 text that says what failed and the fix. */
struct ct_error {
	__s32 err;     /* 0 negative errno (0 when not from a syscall) */
	__u8 fatal;    /* 4 1: the loader exits after this frame */
	__u8 _pad0;    /* 5 */
	__u16 msg_len; /* 6 */
};                     /* 8 */

/* ACK payload (one per stdin command line): this, then line_len bytes of the command as received,
 * then msg_len bytes of text (empty on success). */
struct ct_ack {
	__s32 status;   /* 0 0 ok, negative errno on failure */
	__u16 line_len; /* 4 */
	__u16 msg_len;  /* 6 */
};                      /* 8 */

/* BYE payload: empty. The last frame of a clean exit (after a final STATS frame). */

#define CT_OFFSET_CHECK(type, field, off) \
	_Static_assert(__builtin_offsetof(struct type, field) == (off), #type "." #field " offset")

_Static_assert(sizeof(struct ct_event) == CT_EVENT_SIZE, "ct_event size");
_Static_assert(sizeof(struct ct_rec) == CT_REC_BASE_SIZE, "ct_rec size");
CT_OFFSET_CHECK(ct_rec, size, 0);
CT_OFFSET_CHECK(ct_rec, parts, 2);
CT_OFFSET_CHECK(ct_rec, kind, 3);
CT_OFFSET_CHECK(ct_rec, dir, 4);
CT_OFFSET_CHECK(ct_rec, family, 5);
CT_OFFSET_CHECK(ct_rec, proto, 6);
CT_OFFSET_CHECK(ct_rec, tcp_flags, 7);
CT_OFFSET_CHECK(ct_rec, ts_ns, 8);
CT_OFFSET_CHECK(ct_rec, fingerprint, 16);
CT_OFFSET_CHECK(ct_rec, ifindex, 24);
CT_OFFSET_CHECK(ct_rec, len, 28);
CT_OFFSET_CHECK(ct_rec, mark, 32);
CT_OFFSET_CHECK(ct_rec, anomalies, 36);
CT_OFFSET_CHECK(ct_rec, ip_id, 40);
CT_OFFSET_CHECK(ct_rec, nat_fp, 44);
CT_OFFSET_CHECK(ct_rec, ttl, 48);
CT_OFFSET_CHECK(ct_rec, icmp_type, 49);
CT_OFFSET_CHECK(ct_rec, icmp_code, 50);
CT_OFFSET_CHECK(ct_rec, sport, 52);
CT_OFFSET_CHECK(ct_rec, dport, 54);
CT_OFFSET_CHECK(ct_rec, icmp_id, 56);
CT_OFFSET_CHECK(ct_rec, icmp_seq, 58);
CT_OFFSET_CHECK(ct_rec, vlan, 60);
CT_OFFSET_CHECK(ct_rec, src4, 64);
CT_OFFSET_CHECK(ct_rec, dst4, 68);
_Static_assert(sizeof(struct ct_rec_ip6) == 32, "ct_rec_ip6 size");
_Static_assert(sizeof(struct ct_rec_fib) == 24, "ct_rec_fib size");
CT_OFFSET_CHECK(ct_rec_fib, result, 4);
CT_OFFSET_CHECK(ct_rec_fib, nexthop_family, 5);
CT_OFFSET_CHECK(ct_rec_fib, nexthop, 8);
_Static_assert(sizeof(struct ct_rec_tun) == 48, "ct_rec_tun size");
CT_OFFSET_CHECK(ct_rec_tun, sport, 4);
CT_OFFSET_CHECK(ct_rec_tun, dport, 6);
CT_OFFSET_CHECK(ct_rec_tun, family, 8);
CT_OFFSET_CHECK(ct_rec_tun, src, 16);
CT_OFFSET_CHECK(ct_rec_tun, dst, 32);
_Static_assert(sizeof(struct ct_rec_case) == 24, "ct_rec_case size");
CT_OFFSET_CHECK(ct_rec_case, prev_case, 8);
CT_OFFSET_CHECK(ct_rec_case, epoch, 16);
_Static_assert(sizeof(struct ct_rec_counts) == 16, "ct_rec_counts size");
_Static_assert(sizeof(struct ct_rec_drop) == 8, "ct_rec_drop size");
/* The parts in struct ct_rec_max follow each other in the order of their bits, with no gap. */
CT_OFFSET_CHECK(ct_rec_max, ip6, CT_REC_BASE_SIZE);
CT_OFFSET_CHECK(ct_rec_max, fib, CT_REC_BASE_SIZE + 32);
CT_OFFSET_CHECK(ct_rec_max, tun, CT_REC_BASE_SIZE + 32 + 24);
CT_OFFSET_CHECK(ct_rec_max, cse, CT_REC_BASE_SIZE + 32 + 24 + 48);
CT_OFFSET_CHECK(ct_rec_max, counts, CT_REC_BASE_SIZE + 32 + 24 + 48 + 24);
CT_OFFSET_CHECK(ct_rec_max, drop, CT_REC_BASE_SIZE + 32 + 24 + 48 + 24 + 16);
_Static_assert(sizeof(struct ct_rec_max) == CT_REC_MAX_SIZE, "ct_rec_max size");
_Static_assert(sizeof(struct ct_cases_hdr) == 16, "ct_cases_hdr size");
_Static_assert(sizeof(struct ct_case_entry) == 24, "ct_case_entry size");
_Static_assert(sizeof(struct ct_frame_hdr) == CT_FRAME_HDR_SIZE, "ct_frame_hdr size");
_Static_assert(sizeof(struct ct_events_hdr) == 8, "ct_events_hdr size");
_Static_assert(sizeof(struct ct_hello) == 40, "ct_hello size");
CT_OFFSET_CHECK(ct_hello, realtime_offset_ns, 16);
CT_OFFSET_CHECK(ct_hello, reason_count, 32);
_Static_assert(sizeof(struct ct_stats) == 80, "ct_stats size");
CT_OFFSET_CHECK(ct_stats, ncpus, 72);
_Static_assert(sizeof(struct ct_link) == 12, "ct_link size");
_Static_assert(sizeof(struct ct_error) == 8, "ct_error size");
_Static_assert(sizeof(struct ct_ack) == 8, "ct_ack size");

#endif /* CALITRACE_EVENT_H */
