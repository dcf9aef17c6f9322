/* SPDX-License-Identifier: MIT
 * Ethernet port set-up: one RX/TX queue pair per worker. */
#include <errno.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_log.h>

#include "rc_net.h"

RTE_LOG_REGISTER_DEFAULT(rc_net_logtype, INFO);
#define NET_LOG(level, fmt, ...)                                           \
	rte_log(RTE_LOG_##level, rc_net_logtype, "rc_net: " fmt "\n",      \
		##__VA_ARGS__)

enum rc_net_csum rc_net_csum_default(const char *driver_name,
				     bool rx_l4_csum)
{
	static const char *const partial[] = {"net_af_packet", "net_af_xdp",
					      "net_tap", "net_memif",
					      "net_ring", "net_null"};

	if (rx_l4_csum)
		return RC_NET_CSUM_TRUST; /* the verdict comes with each mbuf */
	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		if (driver_name && !strcmp(driver_name, partial[i]))
			return RC_NET_CSUM_TRUST;
	return RC_NET_CSUM_VERIFY;
}

int rc_net_port_setup(const struct rc_net_port_conf *pc,
		      struct rte_ether_addr *mac, bool *rx_l4_csum)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf = {0};
	uint16_t nrx = pc->rx_desc, ntx = pc->tx_desc;
	int rc;

	if (!rte_eth_dev_is_valid_port(pc->port_id)) {
		NET_LOG(ERR, "port %u does not exist (no NIC bound, no --vdev?)",
			pc->port_id);
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(pc->port_id, &info);
	if (rc != 0) {
		NET_LOG(ERR, "port %u: dev_info: %d", pc->port_id, rc);
		return rc;
	}
	if (pc->nb_queues > info.max_rx_queues ||
	    pc->nb_queues > info.max_tx_queues) {
		NET_LOG(ERR, "port %u (%s) has %u/%u queues, %u workers asked",
			pc->port_id, info.driver_name, info.max_rx_queues,
			info.max_tx_queues, pc->nb_queues);
		return -EINVAL;
	}
	if (pc->nb_queues > 1 && info.flow_type_rss_offloads) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
	}
	/* The device checks checksums where it can; classify drops what it
	 * finds bad. */
	conf.rxmode.offloads = info.rx_offload_capa &
			       (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM |
				RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
	*rx_l4_csum = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_UDP_CKSUM) != 0;
	rc = rte_eth_dev_configure(pc->port_id, pc->nb_queues, pc->nb_queues,
				   &conf);
	if (rc != 0) {
		NET_LOG(ERR, "port %u: configure: %d", pc->port_id, rc);
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(pc->port_id, &nrx, &ntx);
	if (rc != 0)
		return rc;
	for (uint16_t q = 0; q < pc->nb_queues; q++) {
		rc = rte_eth_rx_queue_setup(pc->port_id, q, nrx, pc->socket_id,
					    NULL, pc->pools[q]);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(pc->port_id, q, ntx,
						    pc->socket_id, NULL);
		if (rc != 0) {
			NET_LOG(ERR, "port %u queue %u setup: %d", pc->port_id,
				q, rc);
			return rc;
		}
	}
	rc = rte_eth_dev_start(pc->port_id);
	if (rc != 0) {
		NET_LOG(ERR, "port %u: start: %d", pc->port_id, rc);
		return rc;
	}
	/* Replies go to the sender's MAC, so only our own unicast and
	 * broadcast matter; promiscuous mode is not needed. */
	rte_eth_macaddr_get(pc->port_id, mac);
	NET_LOG(INFO, "port %u (%s) up: %u queue(s), %u/%u descriptors, MAC "
		RTE_ETHER_ADDR_PRT_FMT, pc->port_id, info.driver_name,
		pc->nb_queues, nrx, ntx, RTE_ETHER_ADDR_BYTES(mac));
	return 0;
}

void rc_net_port_teardown(uint16_t port_id)
{
	struct rte_flow_error err;

	if (!rte_eth_dev_is_valid_port(port_id))
		return;
	rte_flow_flush(port_id, &err);
	rte_eth_dev_stop(port_id);
	rte_eth_dev_close(port_id);
}

/* ETH / IPV4 dst=ip / UDP dst=port -> QUEUE q. */
static struct rte_flow *steer_one(uint16_t port_id, rte_be32_t ip,
				  uint16_t port, uint16_t q,
				  struct rte_flow_error *err)
{
	const struct rte_flow_attr attr = {.ingress = 1};
	const struct rte_flow_item_ipv4 ip_spec = {.hdr.dst_addr = ip};
	const struct rte_flow_item_ipv4 ip_mask = {.hdr.dst_addr = RTE_BE32(0xffffffff)};
	const struct rte_flow_item_udp udp_spec = {
		.hdr.dst_port = rte_cpu_to_be_16(port)};
	const struct rte_flow_item_udp udp_mask = {.hdr.dst_port = RTE_BE16(0xffff)};
	const struct rte_flow_item pattern[] = {
		{.type = RTE_FLOW_ITEM_TYPE_ETH},
		{.type = RTE_FLOW_ITEM_TYPE_IPV4, .spec = &ip_spec, .mask = &ip_mask},
		{.type = RTE_FLOW_ITEM_TYPE_UDP, .spec = &udp_spec, .mask = &udp_mask},
		{.type = RTE_FLOW_ITEM_TYPE_END},
	};
	const struct rte_flow_action_queue queue = {.index = q};
	const struct rte_flow_action actions[] = {
		{.type = RTE_FLOW_ACTION_TYPE_QUEUE, .conf = &queue},
		{.type = RTE_FLOW_ACTION_TYPE_END},
	};

	if (rte_flow_validate(port_id, &attr, pattern, actions, err) != 0)
		return NULL;
	return rte_flow_create(port_id, &attr, pattern, actions, err);
}

int rc_net_steer_ports(uint16_t port_id, rte_be32_t ip, uint16_t base_port,
		       uint16_t n)
{
	struct rte_flow_error err = {0};
	struct rte_flow_error ferr;

	for (uint16_t q = 0; q < n; q++) {
		if (steer_one(port_id, ip, (uint16_t)(base_port + q), q, &err))
			continue;
		rte_flow_flush(port_id, &ferr);
		NET_LOG(NOTICE, "port %u: no rte_flow steering by UDP port (%s): "
			"requests on the wrong queue are handed to their "
			"worker", port_id,
			err.message ? err.message : rte_strerror(rte_errno));
		return -ENOTSUP;
	}
	NET_LOG(INFO, "port %u: rte_flow steers UDP %u-%u to queues 0-%u",
		port_id, base_port, base_port + n - 1, n - 1);
	return 0;
}
