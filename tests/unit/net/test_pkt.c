/* SPDX-License-Identifier: MIT
 * lib/net without a NIC: frames built here in mbufs of a --no-huge
 * mempool go through rc_net_classify (every verdict, every drop reason,
 * ARP and ICMP answered in place, group sources refused, UDP checksums
 * by the device's verdict or in software) and the reply builders, whose
 * IPv4 and UDP checksums are checked against a reference implementation
 * of RFC 1071 written here (not DPDK's). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "rc_cunit.h"
#include "rc_net.h"
#include "rc_test_eal.h"

static struct rte_mempool *mp;
static const struct rte_ether_addr our_mac = {{0x02, 0, 0, 0, 0, 0x02}};
static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0x01}};
#define OUR_IP 0xc6120002u  /* 198.18.0.2 */
#define PEER_IP 0xc6120001u /* 198.18.0.1 */

static struct rc_net_iface ifc;

/* Header fields sit at odd offsets behind the 14-byte Ethernet header. */
static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* RFC 1071, byte by byte: the reference the library is checked against. */
static uint16_t ref_sum(const uint8_t *p, size_t n, uint32_t acc)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The UDP checksum a correct sender puts in (0 sent as 0xffff). */
static uint16_t ref_udp_csum(const uint8_t *ip, const uint8_t *udp,
			     size_t udp_len)
{
	uint8_t ph[12];
	uint32_t acc;
	uint16_t c;

	memcpy(ph, ip + 12, 8); /* source and destination */
	ph[8] = 0;
	ph[9] = IPPROTO_UDP;
	ph[10] = (uint8_t)(udp_len >> 8);
	ph[11] = (uint8_t)udp_len;
	acc = ref_sum(ph, sizeof(ph), 0);
	c = (uint16_t)~ref_sum(udp, udp_len, acc);
	return c ? c : 0xffff;
}

/* Does the UDP datagram at udp check out (its checksum field included)? */
static int ref_udp_ok(const uint8_t *ip, const uint8_t *udp, size_t udp_len)
{
	uint8_t ph[12];

	if (udp[6] == 0 && udp[7] == 0)
		return 1; /* none sent */
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = IPPROTO_UDP;
	ph[10] = (uint8_t)(udp_len >> 8);
	ph[11] = (uint8_t)udp_len;
	return ref_sum(udp, udp_len, ref_sum(ph, sizeof(ph), 0)) == 0xffff;
}

static int ref_ip_ok(const uint8_t *ip)
{
	return ref_sum(ip, 20, 0) == 0xffff;
}

struct frame_opts {
	const struct rte_ether_addr *src_mac, *dst_mac;
	uint32_t src_ip, dst_ip;
	uint16_t dst_port;
	uint8_t proto;
	uint16_t payload;
	int bad_udp_csum, no_udp_csum, bad_ip_csum;
};

/* An Ethernet/IPv4/UDP (or ICMP echo) frame in a fresh mbuf. */
static struct rte_mbuf *frame(const struct frame_opts *o)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	const uint16_t l4 = o->proto == IPPROTO_ICMP
				    ? (uint16_t)(sizeof(struct rte_icmp_hdr) + o->payload)
				    : (uint16_t)(sizeof(struct rte_udp_hdr) + o->payload);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(
		m, (uint16_t)(sizeof(struct rte_ether_hdr) + 20 + l4));
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)p;
	uint8_t *ip = p + sizeof(*eth), *l4p = ip + 20;

	eth->src_addr = o->src_mac ? *o->src_mac : peer_mac;
	eth->dst_addr = o->dst_mac ? *o->dst_mac : our_mac;
	eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + l4) >> 8);
	ip[3] = (uint8_t)(20 + l4);
	ip[8] = 64;
	ip[9] = o->proto ? o->proto : IPPROTO_UDP;
	put32(ip + 12, htonl(o->src_ip ? o->src_ip : PEER_IP));
	put32(ip + 16, htonl(o->dst_ip ? o->dst_ip : OUR_IP));
	put16(ip + 10, htons((uint16_t)~ref_sum(ip, 20, 0)));
	if (o->bad_ip_csum)
		ip[10] ^= 0x40;
	for (uint16_t i = 0; i < o->payload; i++)
		l4p[(o->proto == IPPROTO_ICMP ? 8 : 8) + i] = (uint8_t)(i * 13 + 1);
	if (o->proto == IPPROTO_ICMP) {
		l4p[0] = RTE_IP_ICMP_ECHO_REQUEST;
		l4p[1] = 0;
		l4p[2] = l4p[3] = 0;
		l4p[4] = 0x12;
		l4p[6] = 0x34;
		put16(l4p + 2, htons((uint16_t)~ref_sum(l4p, l4, 0)));
	} else {
		put16(l4p + 0, htons(40000));
		put16(l4p + 2, htons(o->dst_port ? o->dst_port : 7711));
		put16(l4p + 4, htons(l4));
		l4p[6] = l4p[7] = 0;
		if (!o->no_udp_csum) {
			put16(l4p + 6, htons(ref_udp_csum(ip, l4p, l4)));
			if (o->bad_udp_csum)
				l4p[7] ^= 0x01;
		}
	}
	return m;
}

static enum rc_net_verdict classify(struct rte_mbuf *m, unsigned *reason,
				    struct rc_net_udp *u)
{
	*reason = RC_NET_DROP__COUNT;
	return rc_net_classify(&ifc, m, u, reason);
}

static void expect_drop(const struct frame_opts *o, unsigned want)
{
	struct rte_mbuf *m = frame(o);
	struct rc_net_udp u;
	unsigned reason;

	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, want);
	if (reason != want)
		fprintf(stderr, "\n  dropped as %s, want %s\n",
			rc_net_drop_name(reason), rc_net_drop_name(want));
	rte_pktmbuf_free(m);
}

static void test_udp_accepted(void)
{
	struct frame_opts o = {.payload = 33};
	struct rte_mbuf *m = frame(&o);
	struct rc_net_udp u;
	unsigned reason;

	CU_ASSERT_EQUAL_FATAL(classify(m, &reason, &u), RC_NET_UDP);
	CU_ASSERT_EQUAL(u.len, 33);
	CU_ASSERT_EQUAL(u.dst_port, 7711);
	CU_ASSERT_EQUAL(u.src_port, 40000);
	CU_ASSERT_EQUAL(u.src_ip, PEER_IP);
	CU_ASSERT_EQUAL(u.payload[0], 1);
	rte_pktmbuf_free(m);
}

/* Every drop reason the classifier has, each from its own frame. */
static void test_drop_reasons(void)
{
	static const struct rte_ether_addr other = {{0x02, 9, 9, 9, 9, 9}};
	static const struct rte_ether_addr bcast = {{0xff, 0xff, 0xff, 0xff,
						     0xff, 0xff}};
	static const struct rte_ether_addr mcast = {{0x01, 0, 0x5e, 0, 0, 1}};
	struct rte_mbuf *m;
	struct rc_net_udp u;
	unsigned reason;

	expect_drop(&(struct frame_opts){.dst_mac = &other},
		    RC_NET_DROP_NOT_FOR_US);
	expect_drop(&(struct frame_opts){.src_mac = &bcast},
		    RC_NET_DROP_SRC_MAC);
	expect_drop(&(struct frame_opts){.src_mac = &mcast},
		    RC_NET_DROP_SRC_MAC);
	expect_drop(&(struct frame_opts){.proto = IPPROTO_ICMP,
					 .src_mac = &bcast},
		    RC_NET_DROP_SRC_MAC);
	expect_drop(&(struct frame_opts){.src_ip = 0xffffffffu},
		    RC_NET_DROP_SRC_IP);
	expect_drop(&(struct frame_opts){.src_ip = 0xe0000001u},
		    RC_NET_DROP_SRC_IP);
	expect_drop(&(struct frame_opts){.proto = IPPROTO_ICMP,
					 .src_ip = 0xe00000fbu},
		    RC_NET_DROP_SRC_IP);
	expect_drop(&(struct frame_opts){.dst_ip = 0xc6120099u},
		    RC_NET_DROP_NOT_OUR_IP);
	expect_drop(&(struct frame_opts){.bad_ip_csum = 1},
		    RC_NET_DROP_IP_CSUM);
	expect_drop(&(struct frame_opts){.proto = IPPROTO_TCP},
		    RC_NET_DROP_IP_PROTO);
	expect_drop(&(struct frame_opts){.dst_port = 9},
		    RC_NET_DROP_PORT);

	/* Hand-broken headers on an otherwise good frame. */
	m = frame(&(struct frame_opts){0});
	rte_pktmbuf_mtod_offset(m, struct rte_ether_hdr *, 0)->ether_type =
		htons(RTE_ETHER_TYPE_IPV6);
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_ETHERTYPE);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){0});
	rte_pktmbuf_mtod_offset(m, struct rte_ether_hdr *, 0)->ether_type =
		htons(RTE_ETHER_TYPE_VLAN);
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_VLAN);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){0});
	*rte_pktmbuf_mtod_offset(m, uint8_t *, 14) = 0x65;
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_IP_VERSION);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){0});
	*rte_pktmbuf_mtod_offset(m, uint8_t *, 14) = 0x46;
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_IP_OPTIONS);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){0});
	*rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 6) = 0x20; /* MF */
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_IP_FRAGMENT);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){.payload = 10});
	*rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 2) = 0x7f; /* too long */
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_IP_LEN);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){.payload = 10});
	*rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 20 + 5) = 9; /* UDP len */
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_UDP_LEN);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){0});
	rte_pktmbuf_trim(m, m->data_len - 10);
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_SHORT);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){.proto = IPPROTO_ICMP});
	*rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 20) = 13; /* timestamp */
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_ICMP_OTHER);
	rte_pktmbuf_free(m);
	/* Every reason has a name. */
	for (unsigned r = 0; r < RC_NET_DROP__COUNT; r++)
		CU_ASSERT(strcmp(rc_net_drop_name(r), "unknown") != 0);
}

/* Bad UDP checksums: the device's verdict always; software's when the
 * interface says verify; a sender's 0 means none. */
static void test_udp_checksum(void)
{
	struct rte_mbuf *m;
	struct rc_net_udp u;
	unsigned reason;

	ifc.udp_csum = RC_NET_CSUM_TRUST;
	m = frame(&(struct frame_opts){.bad_udp_csum = 1});
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_UDP);
	rte_pktmbuf_free(m);
	m = frame(&(struct frame_opts){0});
	m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_BAD;
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_UDP_CSUM);
	rte_pktmbuf_free(m);

	ifc.udp_csum = RC_NET_CSUM_VERIFY;
	expect_drop(&(struct frame_opts){.bad_udp_csum = 1, .payload = 7},
		    RC_NET_DROP_UDP_CSUM);
	for (uint16_t n = 0; n < 40; n++) { /* odd and even lengths */
		m = frame(&(struct frame_opts){.payload = n});
		CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_UDP);
		rte_pktmbuf_free(m);
	}
	m = frame(&(struct frame_opts){.no_udp_csum = 1});
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_UDP);
	rte_pktmbuf_free(m);
	/* A device's GOOD is believed over software. */
	m = frame(&(struct frame_opts){.bad_udp_csum = 1});
	m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_UDP);
	rte_pktmbuf_free(m);
	ifc.udp_csum = RC_NET_CSUM_TRUST;

	CU_ASSERT_EQUAL(rc_net_csum_default("net_af_packet", false),
			RC_NET_CSUM_TRUST);
	CU_ASSERT_EQUAL(rc_net_csum_default("net_ixgbe", false),
			RC_NET_CSUM_VERIFY);
	CU_ASSERT_EQUAL(rc_net_csum_default("net_ixgbe", true),
			RC_NET_CSUM_TRUST);
}

static void test_arp(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	struct rc_net_udp u;
	unsigned reason;

	/* A request for our address, built by the library's own builder
	 * from the peer's side, is answered in place. */
	CU_ASSERT_EQUAL_FATAL(rc_net_arp_request_build(m, &peer_mac,
						       htonl(PEER_IP),
						       htonl(OUR_IP)), 0);
	CU_ASSERT_EQUAL_FATAL(classify(m, &reason, &u), RC_NET_TX);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	arp = (struct rte_arp_hdr *)(eth + 1);
	CU_ASSERT(rte_is_same_ether_addr(&eth->dst_addr, &peer_mac));
	CU_ASSERT(rte_is_same_ether_addr(&eth->src_addr, &our_mac));
	CU_ASSERT_EQUAL(arp->arp_opcode, htons(RTE_ARP_OP_REPLY));
	CU_ASSERT_EQUAL(arp->arp_data.arp_sip, htonl(OUR_IP));
	CU_ASSERT_EQUAL(arp->arp_data.arp_tip, htonl(PEER_IP));
	CU_ASSERT(rte_is_same_ether_addr(&arp->arp_data.arp_sha, &our_mac));
	rte_pktmbuf_free(m);
	/* For another address: not ours to answer. */
	m = rte_pktmbuf_alloc(mp);
	rc_net_arp_request_build(m, &peer_mac, htonl(PEER_IP), htonl(PEER_IP + 7));
	CU_ASSERT_EQUAL(classify(m, &reason, &u), RC_NET_DROP);
	CU_ASSERT_EQUAL(reason, RC_NET_DROP_ARP_OTHER);
	rte_pktmbuf_free(m);
}

static void test_icmp_echo(void)
{
	for (uint16_t n = 0; n < 64; n += 7) {
		struct rte_mbuf *m = frame(&(struct frame_opts){
			.proto = IPPROTO_ICMP, .payload = n});
		struct rc_net_udp u;
		unsigned reason;
		uint8_t *ip, *icmp;

		CU_ASSERT_EQUAL_FATAL(classify(m, &reason, &u), RC_NET_TX);
		ip = rte_pktmbuf_mtod_offset(m, uint8_t *, 14);
		icmp = ip + 20;
		CU_ASSERT_EQUAL(icmp[0], RTE_IP_ICMP_ECHO_REPLY);
		CU_ASSERT(ref_ip_ok(ip));
		CU_ASSERT_EQUAL(ref_sum(icmp, 8u + n, 0), 0xffff);
		CU_ASSERT_EQUAL(get32(ip + 16), htonl(PEER_IP));
		CU_ASSERT_EQUAL(get32(ip + 12), htonl(OUR_IP));
		CU_ASSERT(rte_is_same_ether_addr(
			&rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->dst_addr,
			&peer_mac));
		rte_pktmbuf_free(m);
	}
}

/* Replies in place, further segments and originated datagrams carry
 * right checksums at every length. */
static void test_reply_checksums(void)
{
	for (uint16_t n = 0; n < 1400; n += 97) {
		struct rte_mbuf *m = frame(&(struct frame_opts){.payload = 20});
		struct rte_mbuf *c;
		struct rc_net_udp u;
		unsigned reason;
		uint8_t *p, *ip;

		CU_ASSERT_EQUAL_FATAL(classify(m, &reason, &u), RC_NET_UDP);
		p = rc_net_udp_reply_begin(m, n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		memset(p, (int)n, n);
		rc_net_udp_reply_end(m);
		ip = rte_pktmbuf_mtod_offset(m, uint8_t *, 14);
		CU_ASSERT(ref_ip_ok(ip));
		CU_ASSERT(ref_udp_ok(ip, ip + 20, 8u + n));
		CU_ASSERT_EQUAL(get32(ip + 16), htonl(PEER_IP));
		CU_ASSERT_EQUAL(m->data_len, 14u + 20 + 8 + n);

		c = rc_net_udp_reply_copy(mp, m, (uint16_t)(n / 2 + 1), &p);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		memset(p, 0x5a, n / 2 + 1);
		rc_net_udp_reply_end(c);
		ip = rte_pktmbuf_mtod_offset(c, uint8_t *, 14);
		CU_ASSERT(ref_ip_ok(ip));
		CU_ASSERT(ref_udp_ok(ip, ip + 20, 8u + n / 2 + 1));
		rte_pktmbuf_free(c);
		rte_pktmbuf_free(m);
	}
	{
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		struct rc_net_udp_addr a = {.src_mac = our_mac,
					    .dst_mac = peer_mac,
					    .src_ip = htonl(OUR_IP),
					    .dst_ip = htonl(PEER_IP),
					    .src_port = 7700, .dst_port = 7700};
		uint8_t body[77], *ip;

		memset(body, 0xc3, sizeof(body));
		CU_ASSERT_EQUAL_FATAL(rc_net_udp_build(m, &a, body, sizeof(body)), 0);
		ip = rte_pktmbuf_mtod_offset(m, uint8_t *, 14);
		CU_ASSERT(ref_ip_ok(ip));
		CU_ASSERT(ref_udp_ok(ip, ip + 20, 8 + sizeof(body)));
		rte_pktmbuf_free(m);
		m = rte_pktmbuf_alloc(mp);
		CU_ASSERT_EQUAL(rc_net_udp_build(m, &a, NULL, 2000), -EMSGSIZE);
		rte_pktmbuf_free(m);
	}
}

int main(void)
{
	char prefix[64];
	char *eal[] = {"test_pkt", "--no-huge", "--no-pci", "--no-shconf",
		       "--no-telemetry", "-m", "64", "--log-level=*:error",
		       "--file-prefix", prefix, NULL};

	/* Its own prefix, removed at exit: nothing left in /var/run/dpdk
	 * (the default "rte" was, after every run). */
	snprintf(prefix, sizeof(prefix), "rcpk%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0)
		return 1;
	rc_test_eal_leave_no_dir();
	mp = rte_pktmbuf_pool_create("pkt", 1023, 0, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!mp)
		return 1;
	ifc.mac = our_mac;
	ifc.ip = htonl(OUR_IP);
	ifc.base_port = 7711;
	ifc.n_ports = 2;
	return rc_test_run("net", (const struct rc_test_case[]){
		{"a datagram for the service", test_udp_accepted},
		{"every drop reason", test_drop_reasons},
		{"UDP checksums: device, software, none", test_udp_checksum},
		{"ARP answered in place", test_arp},
		{"ICMP echo answered, checksums right", test_icmp_echo},
		{"reply checksums against RFC 1071", test_reply_checksums},
		{NULL, NULL}});
}
