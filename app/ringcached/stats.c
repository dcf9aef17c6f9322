/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <inttypes.h>
#include <stdio.h>

#include <rte_ethdev.h>

#include "stats.h"

#define N64(s) (sizeof(s) / sizeof(uint64_t))

void rcd_stats_sum(struct rcd_worker *const *w, unsigned n,
		   struct rcd_worker_stats *sum)
{
	uint64_t *dst = (uint64_t *)sum;

	memset(sum, 0, sizeof(*sum));
	/* Every field is a uint64_t counter: add them word by word. */
	RTE_BUILD_BUG_ON(offsetof(struct rcd_worker_stats, store) %
			 sizeof(uint64_t));
	for (unsigned i = 0; i < n; i++) {
		const volatile uint64_t *src =
			(const volatile uint64_t *)&w[i]->stats;

		for (size_t k = 0; k < N64(struct rcd_worker_stats); k++)
			dst[k] += src[k];
	}
}

void rcd_stats_print(const struct rcd_worker_stats *s,
		     const struct rc_classes *cl, uint16_t port_id, FILE *f)
{
	struct rte_eth_stats es;

#define P(name, v) fprintf(f, "%s %" PRIu64 "\n", name, (uint64_t)(v))
	P("rx_packets", s->rx_packets);
	P("tx_packets", s->tx_packets);
	P("tx_failed", s->tx_failed);
	P("requests", s->requests);
	P("arp_replies", s->arp_replies);
	P("icmp_replies", s->icmp_replies);
	P("handoff_out", s->handoff_out);
	P("handoff_in", s->handoff_in);
	P("handoff_dropped", s->handoff_dropped);
	P("reply_failed", s->reply_failed);
	P("tx_retries", s->tx_retries);
	P("drop_acl", s->drop_acl);
	P("drop_amplification", s->drop_amplification);
	P("segments_in", s->seg_in);
	P("segments_out", s->seg_out);
	P("busy_replies", s->busy_replies);
	P("reassembly_entries", s->reasm.entries);
	P("reassembly_bytes", s->reasm.bytes);
	P("reassembly_completed", s->reasm.completed);
	P("reassembly_timeouts", s->reasm.timeouts);
	P("reassembly_full", s->reasm.full);
	P("reassembly_too_big", s->reasm.too_big);
	P("reassembly_duplicates", s->reasm.duplicates);
	P("reassembly_mismatches", s->reasm.mismatches);
	P("rate_admitted_ops", s->rate.admitted);
	P("rate_throttled_ops", s->rate.throttled);
	P("rate_buckets_reused", s->rate.reused);
	for (unsigned i = 0; i < RC_NET_DROP__COUNT; i++)
		fprintf(f, "drop_%s %" PRIu64 "\n", rc_net_drop_name(i),
			s->net_drops[i]);
	for (unsigned i = 1; i < RC_PROTO_E__COUNT; i++)
		fprintf(f, "drop_%s %" PRIu64 "\n", rc_proto_rstatus_name(i),
			s->proto_drops[i]);
	for (unsigned i = 0; i < RC_OP__COUNT; i++)
		fprintf(f, "op_%s %" PRIu64 "\n", rc_proto_opcode_name(i),
			s->ops[i]);
	for (unsigned i = 0; i < RC_ST__COUNT; i++)
		fprintf(f, "status_%s %" PRIu64 "\n", rc_proto_status_name(i),
			s->status[i]);
	P("store_items", s->store.items);
	P("store_bytes_used", s->store.bytes_used);
	P("store_bytes_limit", s->store.bytes_limit);
	P("store_index_bytes", s->store.index_bytes);
	P("store_hits", s->store.hits);
	P("store_misses", s->store.misses);
	P("store_evictions", s->store.evictions);
	P("store_expirations", s->store.expirations);
	P("store_cas_mismatches", s->store.cas_mismatches);
	P("store_segments", s->store.segments);
	P("store_segments_free", s->store.segments_free);
	P("store_reinserted", s->store.reinserted);
	P("store_reclaims_inline", s->store.reclaims_inline);
	P("store_index_full", s->store.index_full);
	for (unsigned c = 0; c < cl->n; c++) {
		const struct rc_store_class_stats *k = &s->classes[c];
		const char *nm = cl->c[c].name;

#define PC(field) fprintf(f, "class_%s_%s %" PRIu64 "\n", nm, #field, \
			  (uint64_t)k->field)
		PC(items);
		PC(live_bytes);
		PC(segments);
		PC(used_bytes);
		PC(budget_bytes);
		PC(gets);
		PC(hits);
		PC(misses);
		PC(sets);
		PC(evictions);
		PC(expirations);
		PC(reinserted);
#undef PC
	}
	if (rte_eth_stats_get(port_id, &es) == 0) {
		P("nic_ipackets", es.ipackets);
		P("nic_opackets", es.opackets);
		P("nic_imissed", es.imissed);
		P("nic_ierrors", es.ierrors);
		P("nic_rx_nombuf", es.rx_nombuf);
	}
#undef P
}

int rcd_stats_write_file(struct rcd_worker *const *w, unsigned n,
			 const struct rc_classes *cl, uint16_t port_id,
			 const char *path)
{
	struct rcd_worker_stats sum;
	char tmp[300];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	rcd_stats_sum(w, n, &sum);
	rcd_stats_print(&sum, cl, port_id, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -errno;
	return 0;
}
