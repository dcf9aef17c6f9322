/* SPDX-License-Identifier: MIT
 * Frame classification and in-place replies: ARP, ICMP echo, UDP. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "rc_net.h"

#define IPV4_MIN_HDR ((uint16_t)sizeof(struct rte_ipv4_hdr))

static const char *const drop_names[RC_NET_DROP__COUNT] = {
	[RC_NET_DROP_SHORT] = "short_frame",
	[RC_NET_DROP_MULTISEG] = "multi_segment",
	[RC_NET_DROP_NOT_FOR_US] = "not_for_us",
	[RC_NET_DROP_VLAN] = "vlan_tagged",
	[RC_NET_DROP_ETHERTYPE] = "ethertype",
	[RC_NET_DROP_ARP_OTHER] = "arp_other",
	[RC_NET_DROP_IP_VERSION] = "ip_version",
	[RC_NET_DROP_IP_OPTIONS] = "ip_options",
	[RC_NET_DROP_IP_FRAGMENT] = "ip_fragment",
	[RC_NET_DROP_IP_CSUM] = "ip_checksum",
	[RC_NET_DROP_IP_LEN] = "ip_length",
	[RC_NET_DROP_NOT_OUR_IP] = "not_our_ip",
	[RC_NET_DROP_IP_PROTO] = "ip_protocol",
	[RC_NET_DROP_ICMP_OTHER] = "icmp_other",
	[RC_NET_DROP_UDP_LEN] = "udp_length",
	[RC_NET_DROP_UDP_CSUM] = "udp_checksum",
	[RC_NET_DROP_PORT] = "udp_port",
	[RC_NET_DROP_SRC_MAC] = "group_src_mac",
	[RC_NET_DROP_SRC_IP] = "group_src_ip",
};

const char *rc_net_drop_name(unsigned reason)
{
	return reason < RC_NET_DROP__COUNT ? drop_names[reason] : "unknown";
}

static enum rc_net_verdict drop(unsigned *reason, enum rc_net_drop r)
{
	*reason = r;
	return RC_NET_DROP;
}

static inline bool ours(const struct rc_net_iface *ifc, rte_be32_t a)
{
	return a == ifc->ip || (a != 0 && a == ifc->vip);
}

static enum rc_net_verdict arp_input(const struct rc_net_iface *ifc,
				     struct rte_mbuf *m,
				     struct rte_ether_hdr *eth,
				     unsigned *reason)
{
	struct rte_arp_hdr *arp;
	uint32_t sip, tip;

	if (m->data_len < sizeof(*eth) + sizeof(*arp))
		return drop(reason, RC_NET_DROP_SHORT);
	arp = (struct rte_arp_hdr *)(eth + 1);
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4 ||
	    arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
	    !ours(ifc, arp->arp_data.arp_tip))
		return drop(reason, RC_NET_DROP_ARP_OTHER);

	/* Answer in place: the asker becomes the target. */
	sip = arp->arp_data.arp_sip;
	tip = arp->arp_data.arp_tip;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_tip = sip;
	arp->arp_data.arp_sha = ifc->mac;
	arp->arp_data.arp_sip = tip;
	eth->dst_addr = arp->arp_data.arp_tha;
	eth->src_addr = ifc->mac;
	return RC_NET_TX;
}

static void swap_l2_l3(struct rte_ether_hdr *eth, struct rte_ipv4_hdr *ip)
{
	struct rte_ether_addr mac = eth->src_addr;
	rte_be32_t a = ip->src_addr;

	eth->src_addr = eth->dst_addr;
	eth->dst_addr = mac;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = a;
	ip->time_to_live = 64;
}

static enum rc_net_verdict icmp_input(struct rte_mbuf *m,
				      struct rte_ether_hdr *eth,
				      struct rte_ipv4_hdr *ip, uint16_t l4len,
				      unsigned *reason)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);

	(void)m;
	if (l4len < sizeof(*icmp))
		return drop(reason, RC_NET_DROP_SHORT);
	if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0)
		return drop(reason, RC_NET_DROP_ICMP_OTHER);
	swap_l2_l3(eth, ip);
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, l4len);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	return RC_NET_TX;
}

enum rc_net_verdict rc_net_classify(const struct rc_net_iface *ifc,
				    struct rte_mbuf *m, struct rc_net_udp *u,
				    unsigned *reason)
{
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	uint16_t ethertype, ip_len, udp_len, port;

	if (m->nb_segs != 1)
		return drop(reason, RC_NET_DROP_MULTISEG);
	if (m->data_len < sizeof(*eth))
		return drop(reason, RC_NET_DROP_SHORT);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (!rte_is_broadcast_ether_addr(&eth->dst_addr) &&
	    !rte_is_same_ether_addr(&eth->dst_addr, &ifc->mac))
		return drop(reason, RC_NET_DROP_NOT_FOR_US);
	/* Every answer goes back to the source: never to a group (a
	 * reflection to every host on the segment). */
	if (rte_is_multicast_ether_addr(&eth->src_addr))
		return drop(reason, RC_NET_DROP_SRC_MAC);

	ethertype = rte_be_to_cpu_16(eth->ether_type);
	if (ethertype == RTE_ETHER_TYPE_ARP)
		return arp_input(ifc, m, eth, reason);
	if (ethertype == RTE_ETHER_TYPE_VLAN || ethertype == RTE_ETHER_TYPE_QINQ)
		return drop(reason, RC_NET_DROP_VLAN);
	if (ethertype != RTE_ETHER_TYPE_IPV4)
		return drop(reason, RC_NET_DROP_ETHERTYPE);

	if (m->data_len < sizeof(*eth) + IPV4_MIN_HDR)
		return drop(reason, RC_NET_DROP_SHORT);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	if ((ip->version_ihl >> 4) != 4)
		return drop(reason, RC_NET_DROP_IP_VERSION);
	if ((ip->version_ihl & 0xf) != 5)
		return drop(reason, RC_NET_DROP_IP_OPTIONS);
	ip_len = rte_be_to_cpu_16(ip->total_length);
	/* Frames may carry Ethernet padding, never less than the IP length. */
	if (ip_len < IPV4_MIN_HDR || ip_len > m->data_len - sizeof(*eth))
		return drop(reason, RC_NET_DROP_IP_LEN);
	if (rte_be_to_cpu_16(ip->fragment_offset) &
	    (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		return drop(reason, RC_NET_DROP_IP_FRAGMENT);
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) ==
		    RTE_MBUF_F_RX_IP_CKSUM_BAD ||
	    rte_raw_cksum(ip, IPV4_MIN_HDR) != 0xffff)
		return drop(reason, RC_NET_DROP_IP_CSUM);
	if (!ours(ifc, ip->dst_addr))
		return drop(reason, RC_NET_DROP_NOT_OUR_IP);
	{
		const uint32_t src = rte_be_to_cpu_32(ip->src_addr);

		/* 0.0.0.0, 224.0.0.0/4 multicast, 240.0.0.0/4 and the
		 * limited broadcast: no answer goes there. */
		if (src == 0 || (src >> 28) >= 0xe)
			return drop(reason, RC_NET_DROP_SRC_IP);
	}
	/* Trim link padding so the reply's length arithmetic is exact. */
	if (m->data_len > sizeof(*eth) + ip_len)
		rte_pktmbuf_trim(m, m->data_len - sizeof(*eth) - ip_len);

	if (ip->next_proto_id == IPPROTO_ICMP)
		return icmp_input(m, eth, ip, ip_len - IPV4_MIN_HDR, reason);
	if (ip->next_proto_id != IPPROTO_UDP)
		return drop(reason, RC_NET_DROP_IP_PROTO);

	if (ip_len < IPV4_MIN_HDR + sizeof(*udp))
		return drop(reason, RC_NET_DROP_SHORT);
	udp = (struct rte_udp_hdr *)(ip + 1);
	udp_len = rte_be_to_cpu_16(udp->dgram_len);
	if (udp_len < sizeof(*udp) || udp_len != ip_len - IPV4_MIN_HDR)
		return drop(reason, RC_NET_DROP_UDP_LEN);
	/* The device's verdict when it gave one; else software's, where
	 * the interface says so (not on veth-backed devices: the kernel
	 * leaves a local sender's checksum partial). 0: none was sent. */
	switch (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
	case RTE_MBUF_F_RX_L4_CKSUM_BAD:
		return drop(reason, RC_NET_DROP_UDP_CSUM);
	case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
		break;
	default:
		if (ifc->udp_csum == RC_NET_CSUM_VERIFY &&
		    udp->dgram_cksum != 0 &&
		    rte_ipv4_udptcp_cksum_verify(ip, udp) != 0)
			return drop(reason, RC_NET_DROP_UDP_CSUM);
		break;
	}
	port = rte_be_to_cpu_16(udp->dst_port);
	if ((port < ifc->base_port || port - ifc->base_port >= ifc->n_ports) &&
	    (port == 0 || port != ifc->extra_port))
		return drop(reason, RC_NET_DROP_PORT);

	u->payload = (uint8_t *)(udp + 1);
	u->len = (uint16_t)(udp_len - sizeof(*udp));
	u->dst_port = port;
	u->src_port = rte_be_to_cpu_16(udp->src_port);
	u->src_ip = rte_be_to_cpu_32(ip->src_addr);
	return RC_NET_UDP;
}

void rc_net_udp_locate(struct rte_mbuf *m, struct rc_net_udp *u)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(
		m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	u->payload = (uint8_t *)(udp + 1);
	u->len = (uint16_t)(rte_be_to_cpu_16(udp->dgram_len) - sizeof(*udp));
	u->dst_port = rte_be_to_cpu_16(udp->dst_port);
	u->src_port = rte_be_to_cpu_16(udp->src_port);
	u->src_ip = rte_be_to_cpu_32(ip->src_addr);
}

#define UDP_HDRS                                                           \
	((uint16_t)(sizeof(struct rte_ether_hdr) + IPV4_MIN_HDR +          \
		    sizeof(struct rte_udp_hdr)))

/* Lengths and IP checksum for a payload of len bytes. */
static void set_lengths(struct rte_ipv4_hdr *ip, struct rte_udp_hdr *udp,
			uint16_t len)
{
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
	ip->total_length =
		rte_cpu_to_be_16((uint16_t)(IPV4_MIN_HDR + sizeof(*udp) + len));
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

uint8_t *rc_net_udp_reply_begin(struct rte_mbuf *m, uint16_t len)
{
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	rte_be16_t p;
	uint32_t want = (uint32_t)UDP_HDRS + len;

	/* Resize the frame to headers + new payload. */
	if (want > m->data_len) {
		if (!rte_pktmbuf_append(m, (uint16_t)(want - m->data_len)))
			return NULL;
	} else if (want < m->data_len) {
		rte_pktmbuf_trim(m, (uint16_t)(m->data_len - want));
	}
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);
	swap_l2_l3(eth, ip);
	p = udp->src_port;
	udp->src_port = udp->dst_port;
	udp->dst_port = p;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	set_lengths(ip, udp, len);
	m->ol_flags = 0;
	return (uint8_t *)(udp + 1);
}

struct rte_mbuf *rc_net_udp_reply_copy(struct rte_mempool *mp,
				       const struct rte_mbuf *reply,
				       uint16_t len, uint8_t **payload)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ipv4_hdr *ip;
	uint8_t *p;

	if (!m)
		return NULL;
	p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(UDP_HDRS + len));
	if (!p) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(p, rte_pktmbuf_mtod(reply, const uint8_t *), UDP_HDRS);
	ip = (struct rte_ipv4_hdr *)(p + sizeof(struct rte_ether_hdr));
	set_lengths(ip, (struct rte_udp_hdr *)(ip + 1), len);
	*payload = p + UDP_HDRS;
	return m;
}

void rc_net_udp_reply_end(struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(
		m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	udp->dgram_cksum = 0;
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
}

int rc_net_udp_build(struct rte_mbuf *m, const struct rc_net_udp_addr *a,
		     const void *payload, uint16_t len)
{
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	uint8_t *p;

	if (len > RTE_ETHER_MTU - IPV4_MIN_HDR - sizeof(*udp))
		return -EMSGSIZE;
	p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(UDP_HDRS + len));
	if (!p)
		return -ENOSPC;
	eth = (struct rte_ether_hdr *)p;
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);
	rte_ether_addr_copy(&a->src_mac, &eth->src_addr);
	rte_ether_addr_copy(&a->dst_mac, &eth->dst_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->src_addr = a->src_ip;
	ip->dst_addr = a->dst_ip;
	udp->src_port = rte_cpu_to_be_16(a->src_port);
	udp->dst_port = rte_cpu_to_be_16(a->dst_port);
	set_lengths(ip, udp, len);
	memcpy(udp + 1, payload, len);
	m->ol_flags = 0;
	rc_net_udp_reply_end(m);
	return 0;
}

int rc_net_arp_request_build(struct rte_mbuf *m,
			     const struct rte_ether_addr *mac, rte_be32_t sip,
			     rte_be32_t tip)
{
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(
		m, sizeof(*eth) + sizeof(*arp));
	if (!eth)
		return -ENOSPC;
	arp = (struct rte_arp_hdr *)(eth + 1);
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	rte_ether_addr_copy(mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = sip;
	memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = tip;
	m->ol_flags = 0;
	return 0;
}
