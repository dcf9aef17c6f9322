/* SPDX-License-Identifier: MIT
 * DPDK port set-up and the Ethernet/ARP/IPv4/ICMP/UDP layer of the node.
 * Knows nothing of items or of the cache protocol: it hands UDP payloads up
 * and turns a request mbuf into a reply in place. */
#ifndef RC_NET_H
#define RC_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* Why a frame was dropped. Names in rc_net_drop_name(). */
enum rc_net_drop {
	RC_NET_DROP_SHORT = 0,     /* frame shorter than its headers */
	RC_NET_DROP_MULTISEG,      /* chained mbuf (jumbo frame) */
	RC_NET_DROP_NOT_FOR_US,    /* unicast to another MAC */
	RC_NET_DROP_VLAN,          /* 802.1Q/802.1ad tagged */
	RC_NET_DROP_ETHERTYPE,     /* neither IPv4 nor ARP */
	RC_NET_DROP_ARP_OTHER,     /* ARP that is not a request for our IP */
	RC_NET_DROP_IP_VERSION,
	RC_NET_DROP_IP_OPTIONS,    /* IHL > 5 */
	RC_NET_DROP_IP_FRAGMENT,
	RC_NET_DROP_IP_CSUM,
	RC_NET_DROP_IP_LEN,        /* total length disagrees with the frame */
	RC_NET_DROP_NOT_OUR_IP,
	RC_NET_DROP_IP_PROTO,      /* neither UDP nor ICMP */
	RC_NET_DROP_ICMP_OTHER,    /* ICMP that is not an echo request */
	RC_NET_DROP_UDP_LEN,
	RC_NET_DROP_UDP_CSUM,      /* bad UDP checksum (the NIC's verdict,
				    * or software's under RC_NET_CSUM_VERIFY) */
	RC_NET_DROP_PORT,          /* UDP port outside the service range */
	RC_NET_DROP_SRC_MAC,       /* broadcast or multicast source MAC: no
				    * answer may go back to a group */
	RC_NET_DROP_SRC_IP,        /* source IPv4 0, broadcast or multicast */
	RC_NET_DROP__COUNT
};

enum rc_net_verdict {
	RC_NET_DROP = 0,  /* free the mbuf, count the reason */
	RC_NET_TX,        /* answered in place (ARP, ICMP): transmit it */
	RC_NET_UDP,       /* a datagram for the service: see rc_net_udp */
};

/* What to do with a UDP checksum the device did not check. */
enum rc_net_csum {
	RC_NET_CSUM_TRUST = 0,  /* accept it (veth-backed devices: a local
				 * sender's checksum is left partial) */
	RC_NET_CSUM_VERIFY,     /* verify it in software */
};

/* The node's identity on the wire. Read-only once workers run. */
struct rc_net_iface {
	struct rte_ether_addr mac;
	rte_be32_t ip;          /* network order */
	uint16_t base_port;     /* host order */
	uint16_t n_ports;       /* service ports base_port .. +n_ports-1 */
	uint16_t extra_port;    /* one more UDP port handed up (0: none) */
	volatile rte_be32_t vip; /* a floating address also answered while
				  * the control core sets it (0: none) */
	enum rc_net_csum udp_csum; /* when the device gave no verdict */
};

/* A datagram for the service, pointing into the mbuf. */
struct rc_net_udp {
	uint8_t *payload;
	uint16_t len;
	uint16_t dst_port;      /* host order */
	uint16_t src_port;      /* host order */
	uint32_t src_ip;        /* host order */
};

/* Classify one received frame. ARP requests and ICMP echo requests for our
 * address are rewritten in place into their replies (RC_NET_TX).
 * @return the verdict; for RC_NET_DROP *reason holds an rc_net_drop. */
enum rc_net_verdict rc_net_classify(const struct rc_net_iface *ifc,
				    struct rte_mbuf *m, struct rc_net_udp *u,
				    unsigned *reason);

/* Re-derive the datagram of an mbuf that rc_net_classify() already
 * returned RC_NET_UDP for (e.g. after a hand-off between workers): no
 * checks are repeated. */
void rc_net_udp_locate(struct rte_mbuf *m, struct rc_net_udp *u);

/* Turn the request in m into the reply to its sender: swap addresses and
 * ports, size the UDP payload to len bytes, fix lengths and the IP
 * checksum. The caller writes the payload (the request's is overwritten)
 * and then calls rc_net_udp_reply_end().
 * @return the payload, or NULL if the mbuf cannot hold len bytes. */
uint8_t *rc_net_udp_reply_begin(struct rte_mbuf *m, uint16_t len);

/* A further datagram to the same peer as reply (already begun): a new
 * mbuf from mp with reply's headers and a payload of len bytes.
 * @return the mbuf (*payload set), or NULL if mp is empty. */
struct rte_mbuf *rc_net_udp_reply_copy(struct rte_mempool *mp,
				       const struct rte_mbuf *reply,
				       uint16_t len, uint8_t **payload);

/* The UDP checksum, in software so it is right on every device. */
void rc_net_udp_reply_end(struct rte_mbuf *m);

/* Addresses of a datagram the node originates (not a reply). */
struct rc_net_udp_addr {
	struct rte_ether_addr src_mac, dst_mac;
	rte_be32_t src_ip, dst_ip;
	uint16_t src_port, dst_port; /* host order */
};

/* Append a whole Ethernet/IPv4/UDP frame with this payload to the empty
 * mbuf m, checksums included. @return 0, -EMSGSIZE or -ENOSPC. */
int rc_net_udp_build(struct rte_mbuf *m, const struct rc_net_udp_addr *a,
		     const void *payload, uint16_t len);

/* Append a broadcast ARP request from (mac, sip) for tip to the empty
 * mbuf m. With tip == sip it is a gratuitous ARP: neighbours update their
 * caches to send sip to mac. @return 0 or -ENOSPC. */
int rc_net_arp_request_build(struct rte_mbuf *m,
			     const struct rte_ether_addr *mac, rte_be32_t sip,
			     rte_be32_t tip);

const char *rc_net_drop_name(unsigned reason);

/* Port set-up: nb_queues RX/TX queue pairs, queue q fed from pools[q]. */
struct rc_net_port_conf {
	uint16_t port_id;
	uint16_t nb_queues;
	uint16_t rx_desc, tx_desc;
	struct rte_mempool **pools;
	int socket_id;
};

/* Configure and start the port; fills mac. Asks the device to check
 * IPv4 and UDP checksums on receive where it can (classify honours its
 * verdict); *rx_l4_csum says whether it does.
 * @return 0 or a negative errno (logged). */
int rc_net_port_setup(const struct rc_net_port_conf *pc,
		      struct rte_ether_addr *mac, bool *rx_l4_csum);

/* The default for rc_net_iface.udp_csum on a device whose driver is
 * driver_name and that checks (or not) L4 checksums itself: trust on
 * devices that check, and on those backed by veth or tap, where local
 * senders leave partial checksums; verify on every other one. */
enum rc_net_csum rc_net_csum_default(const char *driver_name,
				     bool rx_l4_csum);
void rc_net_port_teardown(uint16_t port_id);

/* Steer UDP to ip:base_port+q onto RX queue q, q < n, with rte_flow
 * rules, when the device can. All rules or none: a device that refuses
 * one keeps none, and requests reaching the wrong queue are handed to
 * their owner by the workers.
 * @return 0 if installed, or a negative errno (logged once, why). */
int rc_net_steer_ports(uint16_t port_id, rte_be32_t ip, uint16_t base_port,
		       uint16_t n);

#endif
