// SPDX-License-Identifier: Apache-2.0
/*
 * Commands on stdin, one per line: filter, mode, stats, attach, detach, links, quit. Each gets an
 * ACK frame; a filter or mode is in effect in the kernel when its ACK is written. Its state is its own
 * (struct commands: the line being read, the mode in effect) and names the modules the commands drive.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <strings.h>
#include "loader.h"
#include "calitrace.skel.h" /* after loader.h: it needs maps.h's struct ct_config */

static int parse_cidr(const char *s, struct ct_lpm_key *k)
{
	char buf[64];
	char *slash;
	long plen = -1;
	struct in_addr a4;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash) {
		char *end;

		*slash = 0;
		plen = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1)
			return -EINVAL;
	}
	memset(k, 0, sizeof(*k));
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		if (plen < 0)
			plen = 32;
		if (plen > 32)
			return -EINVAL;
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(&k->addr[12], &a4, 4);
		k->prefixlen = 96 + plen;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, k->addr) == 1) {
		if (plen < 0)
			plen = 128;
		if (plen > 128)
			return -EINVAL;
		k->prefixlen = plen;
		return 0;
	}
	return -EINVAL;
}

static int parse_port(const char *s, __u16 *port)
{
	char *end;
	long v = s ? strtol(s, &end, 10) : -1;

	if (!s || *end || v < 0 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

static int parse_proto(const char *s, __u8 *proto)
{
	static const struct { const char *name; __u8 num; } names[] = {
		{ "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmpv6", 58 }, { "icmp6", 58 },
	};
	char *end;
	long v;

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name)) {
			*proto = names[i].num;
			return 0;
		}
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 255)
		return -EINVAL;
	*proto = v;
	return 0;
}

static void lpm_clear(int fd)
{
	struct ct_lpm_key k;

	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		if (bpf_map_delete_elem(fd, &k))
			break;
}

static int settings_get(struct calitrace *skel, struct ct_settings *s)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(bpf_map__fd(skel->maps.ct_settings), &zero, s);
}

int settings_put(struct calitrace *skel, const struct ct_settings *s)
{
	__u32 zero = 0;

	return bpf_map_update_elem(bpf_map__fd(skel->maps.ct_settings), &zero, s, BPF_ANY);
}

/* "packet", "flow" or "case" (--mode and the mode command). */
int mode_parse(const char *name, enum ct_mode *mode)
{
	if (!name)
		return -EINVAL;
	if (!strcmp(name, "packet"))
		*mode = CT_MODE_PACKET;
	else if (!strcmp(name, "flow"))
		*mode = CT_MODE_FLOW;
	else if (!strcmp(name, "case"))
		*mode = CT_MODE_CASE;
	else
		return -EINVAL;
	return 0;
}

void commands_init(struct commands *c, struct calitrace *skel, struct output *out, struct links *links,
		   struct flow_reporter *flows, int ncpus, enum ct_mode mode)
{
	memset(c, 0, sizeof(*c));
	c->skel = skel;
	c->out = out;
	c->links = links;
	c->flows = flows;
	c->ncpus = ncpus;
	c->mode = mode;
}

enum ct_mode commands_mode(const struct commands *c)
{
	return c->mode;
}

/* `filter …`: parsed completely before anything changes, so a bad filter leaves the old one. */
int cmd_filter(struct calitrace *skel, char *args, char *msg, size_t msglen)
{
	struct ct_lpm_key keys[3][16];
	int nkeys[3] = {};
	struct ct_settings s;
	char *save = NULL, *w;
	int fds[3] = { bpf_map__fd(skel->maps.ct_filter_src), bpf_map__fd(skel->maps.ct_filter_dst),
		       bpf_map__fd(skel->maps.ct_filter_host) };
	__u8 one = 1;

	if (settings_get(skel, &s))
		return -errno;
	s.filter = 0;
	s.proto = 0;
	s.port = s.sport = s.dport = 0;
	for (w = strtok_r(args, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		char *val;
		int kind = -1;

		if (!strcmp(w, "clear"))
			continue;
		val = strtok_r(NULL, " \t", &save);
		if (!val) {
			snprintf(msg, msglen, "'%s' needs a value", w);
			return -EINVAL;
		}
		if (!strcmp(w, "src"))
			kind = 0;
		else if (!strcmp(w, "dst"))
			kind = 1;
		else if (!strcmp(w, "host"))
			kind = 2;
		if (kind >= 0) {
			if (nkeys[kind] == 16) {
				snprintf(msg, msglen, "at most 16 '%s' CIDRs", w);
				return -E2BIG;
			}
			if (parse_cidr(val, &keys[kind][nkeys[kind]])) {
				snprintf(msg, msglen, "'%s' is not an IPv4/IPv6 address or CIDR", val);
				return -EINVAL;
			}
			nkeys[kind]++;
			s.filter |= kind == 0 ? CT_F_SRC : kind == 1 ? CT_F_DST : CT_F_HOST;
		} else if (!strcmp(w, "proto")) {
			if (parse_proto(val, &s.proto)) {
				snprintf(msg, msglen, "'%s' is not tcp, udp, icmp, icmpv6 or 0-255", val);
				return -EINVAL;
			}
			s.filter |= CT_F_PROTO;
		} else if (!strcmp(w, "port") || !strcmp(w, "sport") || !strcmp(w, "dport")) {
			__u16 *p = w[0] == 'p' ? &s.port : w[0] == 's' ? &s.sport : &s.dport;

			if (parse_port(val, p)) {
				snprintf(msg, msglen, "'%s' is not a port (0-65535)", val);
				return -EINVAL;
			}
			s.filter |= w[0] == 'p' ? CT_F_PORT : w[0] == 's' ? CT_F_SPORT : CT_F_DPORT;
		} else {
			snprintf(msg, msglen,
				 "unknown filter word '%s' (use src, dst, host, proto, port, sport, dport, clear)", w);
			return -EINVAL;
		}
	}
	/* Switch the filter off while the tries change, then on with the new settings. */
	{
		struct ct_settings off = s;

		off.filter = 0;
		settings_put(skel, &off);
	}
	for (int k = 0; k < 3; k++) {
		lpm_clear(fds[k]);
		for (int i = 0; i < nkeys[k]; i++)
			if (bpf_map_update_elem(fds[k], &keys[k][i], &one, BPF_ANY)) {
				snprintf(msg, msglen, "updating the CIDR filter map: %s", strerror(errno));
				return -errno;
			}
	}
	if (settings_put(skel, &s))
		return -errno;
	return 0;
}

static int cmd_mode(struct commands *c, const char *arg, char *msg, size_t msglen)
{
	struct ct_settings s;
	enum ct_mode mode;

	if (mode_parse(arg, &mode)) {
		snprintf(msg, msglen, "mode is 'packet', 'flow' or 'case'");
		return -EINVAL;
	}
	if (settings_get(c->skel, &s))
		return -errno;
	s.mode = mode;
	if (settings_put(c->skel, &s))
		return -errno;
	if (c->mode == CT_MODE_FLOW && mode != CT_MODE_FLOW)
		flow_flush(c->flows, c->skel, c->out); /* the counts since the last flush are not lost by leaving flow mode */
	c->mode = mode;
	return 0;
}

/* Case mode: "sizes L..." — up to CT_SIZE_MARKS frame lengths that change a verdict (the collector's
 * MTUs); how many a packet exceeds is part of its case. "sizes" alone clears them. */
static int cmd_sizes(struct calitrace *skel, char **save, char *msg, size_t msglen)
{
	struct ct_settings s;
	__u16 marks[CT_SIZE_MARKS] = {};
	char *arg, *end;
	int n = 0;

	while ((arg = strtok_r(NULL, " \t", save))) {
		long v = strtol(arg, &end, 10);

		if (*end || v < 1 || v > 65535 || n == CT_SIZE_MARKS) {
			snprintf(msg, msglen, "usage: sizes [LEN]... (at most %d lengths, 1-65535)", CT_SIZE_MARKS);
			return -EINVAL;
		}
		marks[n++] = (__u16)v;
	}
	if (settings_get(skel, &s))
		return -errno;
	memcpy(s.size_marks, marks, sizeof(marks));
	if (settings_put(skel, &s))
		return -errno;
	return 0;
}

static void handle_command(struct commands *c, char *line)
{
	char copy[MAX_LINE], msg[256] = "";
	char *save = NULL, *cmd, *arg;
	int status = 0;

	snprintf(copy, sizeof(copy), "%s", line);
	cmd = strtok_r(line, " \t", &save);
	if (!cmd)
		return; /* blank line */
	if (!strcmp(cmd, "filter")) {
		status = cmd_filter(c->skel, save ? save : (char *)"", msg, sizeof(msg));
	} else if (!strcmp(cmd, "mode")) {
		status = cmd_mode(c, strtok_r(NULL, " \t", &save), msg, sizeof(msg));
	} else if (!strcmp(cmd, "generation")) {
		/* Case mode: the route model changed; packets from now on form new cases (judged again). */
		struct ct_settings s;
		char *end = NULL;
		long g;

		arg = strtok_r(NULL, " \t", &save);
		g = arg ? strtol(arg, &end, 10) : -1;
		if (!arg || *end || g < 0 || g > 0xffffffffL) {
			snprintf(msg, sizeof(msg), "usage: generation N (0-4294967295)");
			status = -EINVAL;
		} else if (settings_get(c->skel, &s) || (s.generation = (__u32)g, settings_put(c->skel, &s))) {
			status = -errno;
		}
	} else if (!strcmp(cmd, "sizes")) {
		status = cmd_sizes(c->skel, &save, msg, sizeof(msg));
	} else if (!strcmp(cmd, "stats")) {
		send_stats(c->out, c->skel, c->ncpus, links_attached_count(c->links), flow_records_sent(c->flows));
	} else if (!strcmp(cmd, "links")) {
		links_announce(c->links);
	} else if (!strcmp(cmd, "attach") || !strcmp(cmd, "detach")) {
		arg = strtok_r(NULL, " \t", &save);
		if (!arg) {
			snprintf(msg, sizeof(msg), "usage: %s PATTERN", cmd);
			status = -EINVAL;
		} else {
			status = cmd[0] == 'a' ? pattern_add(c->links, arg) : pattern_del(c->links, arg);
			if (status)
				snprintf(msg, sizeof(msg), "%s", strerror(-status));
			else
				evaluate_all(c->links);
		}
	} else if (!strcmp(cmd, "quit")) {
		exiting = 1;
	} else {
		snprintf(msg, sizeof(msg),
			 "unknown command '%s' (filter, mode, generation, sizes, stats, attach, detach, links, quit)", cmd);
		status = -EINVAL;
	}
	if (status && !msg[0])
		snprintf(msg, sizeof(msg), "%s", strerror(-status));
	send_ack(c->out, copy, status, msg);
}

/* Returns false at EOF. */
bool read_stdin(struct commands *c)
{
	char buf[4096];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n == 0)
		return false;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			c->line[c->line_len] = 0;
			if (c->line_overflow)
				send_ack(c->out, "", -E2BIG, "command line longer than 1023 bytes ignored");
			else
				handle_command(c, c->line);
			c->line_len = 0;
			c->line_overflow = false;
		} else if (c->line_len < MAX_LINE - 1) {
			c->line[c->line_len++] = buf[i] == '\r' ? ' ' : buf[i];
		} else {
			c->line_overflow = true;
		}
	}
	return true;
}
