/* SPDX-License-Identifier: MIT
 * Partition store: an rte_hash index (8 bytes of the key digest -> item
 * address) over a log of fixed-size segments. Items are appended to the
 * open segment of their (class, TTL bucket); a class owns whole segments
 * and its budget counts them. Eviction takes the class's oldest segment
 * and compacts it in place, keeping items read since they were written
 * (at most half a segment of them): CLOCK at segment granularity, as in
 * Segcache's merge-based eviction. Expired items are swept in small steps
 * from rc_store_maintain(). Single owner thread; see rc_store.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>
#include <rte_branch_prediction.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_prefetch.h>

#include "rc_store.h"

#define NONE UINT32_MAX
#define SEG_HDR RC_STORE_SEG_HDR /* each segment starts with its id (+ pad) */
#define N_BUCKETS 128u      /* TTL buckets per class, see bucket_of() */
#define ALIGN4(x) (((x) + 3u) & ~(size_t)3u)

enum { IT_LIVE = 1, IT_VISITED = 2, IT_CFLAGS = 4 };

/* 8 bytes, 4-byte aligned in its segment; then [client flags] key value.
 * meta = value length (21 bits) | key length (8) | IT_ flags (3). Not
 * stored: the CAS (the item's place, see cas_of()) and the class (its
 * segment's, and a tag on the index entry, see ix_data()). */
struct rc_item {
	uint32_t expire;            /* store clock seconds; 0 = never */
	uint32_t meta;
	uint8_t data[];
};

static inline uint32_t it_vlen(const struct rc_item *it)
{
	return it->meta & RC_STORE_MAX_VALUE;
}

static inline uint32_t it_klen(const struct rc_item *it)
{
	return (it->meta >> 21) & 0xFFu;
}

static inline bool it_has(const struct rc_item *it, unsigned f)
{
	return (it->meta >> 29) & f;
}

static inline void it_set(struct rc_item *it, unsigned f)
{
	it->meta |= (uint32_t)f << 29;
}

static inline void it_clear(struct rc_item *it, unsigned f)
{
	it->meta &= ~((uint32_t)f << 29);
}

/* Index entries carry the item's class in the pointer's top byte (user
 * addresses use 47 bits), so a GET learns it without another cache line. */
static inline void *ix_data(const struct rc_item *it, uint8_t c)
{
	return (void *)((uintptr_t)it | ((uintptr_t)c << 56));
}

static inline struct rc_item *ix_item(const void *d)
{
	return (struct rc_item *)((uintptr_t)d & (((uintptr_t)1 << 56) - 1));
}

static inline uint8_t ix_cls(const void *d)
{
	return (uint8_t)((uintptr_t)d >> 56);
}

enum seg_state { SEG_FREE, SEG_OPEN, SEG_SEALED, SEG_RECLAIM, SEG_READY };

struct seg {
	uint8_t *mem;               /* NULL until first used */
	uint64_t seq;               /* bumped when (re)filled: CAS high bits */
	uint64_t seq_prev;          /* while reclaiming: the seq of the items
				     * not yet looked at */
	uint32_t wr;                /* bytes written, from SEG_HDR */
	uint32_t live_bytes, n_live;
	uint32_t min_exp, max_exp;  /* over items with a TTL; 0 = none */
	uint32_t prev, next;        /* class FIFO; free list uses next */
	uint8_t cls;
	uint8_t state;
	uint16_t bucket;            /* while open */
};

struct cls {
	uint32_t head, tail;        /* owned segments, oldest first */
	uint32_t nsegs;             /* owned, incl. one reclaiming / ready */
	uint32_t budget;            /* in segments */
	uint32_t share_ppm;
	bool protect;
	bool pressure;              /* wrote past its budget lately */
	uint32_t reclaim;           /* segment being compacted, or NONE */
	uint32_t rd, wr, kept_min, kept_max;
	bool drop_all;              /* trimming: keep nothing, free it */
	bool keep_all;              /* cleaning: keep every live item */
	uint32_t ready;             /* compacted, waiting to be opened */
	uint32_t open[N_BUCKETS];
	struct rc_store_class_stats st;
};

struct rc_store {
	struct rte_hash *index;
	struct seg *segs;
	uint32_t n_segs_max;        /* table size: memory_cap / segment */
	uint32_t n_alloc;           /* segments with memory */
	uint32_t n_owned;           /* segments owned by some class */
	uint32_t free_head;         /* free segments that have memory */
	uint32_t n_free;
	uint32_t seg_size, seg_shift;
	uint32_t total_budget;      /* in segments */
	uint64_t seq;
	unsigned arena;
	int mflags;
	size_t limit;
	/* Written by any thread, read by the owner. */
	uint64_t req_limit;
	uint32_t req_share[RC_STORE_MAX_CLASSES];
	uint32_t req_gen, gen_seen;
	uint32_t stale_grace;       /* seconds; 0: never serve stale */
	/* Expiry sweep cursor. */
	uint32_t sw_seg, sw_off, sw_min, sw_next;
	struct rc_store_config cfg;
	struct rc_store_stats st;
	struct cls cls[RC_STORE_MAX_CLASSES];
};

/* The index key is the digest's second 8 bytes; partitions are chosen by
 * the first 8, so the bits the index sees are not skewed by partitioning.
 * Its low 32 bits are the signature. */
static inline const void *ikey(const void *digest)
{
	return (const uint8_t *)digest + 8;
}

static uint32_t ikey_sig(const void *key, uint32_t len, uint32_t init)
{
	uint32_t v;

	(void)len;
	(void)init;
	memcpy(&v, key, sizeof(v));
	return v;
}

static inline hash_sig_t sig_of(const void *digest)
{
	return ikey_sig(ikey(digest), 8, 0);
}

static inline size_t item_size(const struct rc_item *it)
{
	return ALIGN4(sizeof(*it) + (it_has(it, IT_CFLAGS) ? 4u : 0u) +
		      it_klen(it) + it_vlen(it));
}

size_t rc_store_item_size(uint16_t key_len, uint32_t value_len,
			  uint32_t client_flags)
{
	return ALIGN4(sizeof(struct rc_item) + (client_flags ? 4u : 0u) +
		      key_len + value_len);
}

static inline const uint8_t *item_key(const struct rc_item *it)
{
	return it->data + (it_has(it, IT_CFLAGS) ? 4u : 0u);
}

static inline uint32_t item_cflags(const struct rc_item *it)
{
	uint32_t f = 0;

	if (it_has(it, IT_CFLAGS))
		memcpy(&f, it->data, 4);
	return f;
}

static inline uint32_t seg_of(const struct rc_store *s, const void *p)
{
	uint32_t id;

	memcpy(&id, (const void *)((uintptr_t)p &
				   ~(uintptr_t)(s->seg_size - 1)),
	       sizeof(id));
	return id;
}

/* Unique per partition for every item written: where it was written and
 * which filling of that segment it belongs to. Moving an item (eviction
 * keeping it) therefore gives it a new CAS. */
static inline uint64_t cas_of(const struct rc_store *s,
			      const struct rc_item *it)
{
	uint32_t id = seg_of(s, it);
	uintptr_t off = (uintptr_t)it & (s->seg_size - 1);
	const struct seg *g = &s->segs[id];

	/* Compaction gives kept items a new seq as it moves them; items it
	 * has not reached yet keep the version they were written with. */
	if (unlikely(g->state == SEG_RECLAIM) && off >= s->cls[g->cls].rd)
		return (g->seq_prev << 24) | (uint64_t)(off >> 2);
	return (g->seq << 24) | (uint64_t)(off >> 2);
}

static inline int expired(const struct rc_item *it, uint32_t now)
{
	/* Plain comparisons: the clock counts seconds from 1 and does not
	 * wrap (136 years), and expiries saturate below. */
	return it->expire != 0 && now >= it->expire;
}

static inline uint32_t expiry_of(uint32_t ttl, uint32_t now)
{
	uint32_t e;

	if (ttl == 0)
		return 0;
	/* A TTL past the clock's range is as good as never, but stays a
	 * TTL (0 is reserved for "never"): saturate, never wrap. */
	e = ttl > UINT32_MAX - now ? UINT32_MAX : now + ttl;
	return e;
}

/* TTL -> bucket: 0 for none, exact for 1..3 s, then four buckets per
 * power of two, so items sharing a segment expire within ~25% of each
 * other and segments tend to empty at once. */
static inline unsigned bucket_of(uint32_t ttl)
{
	unsigned e;

	if (ttl < 4)
		return ttl;
	e = 31u - (unsigned)__builtin_clz(ttl);
	return 4u * (e - 1u) + ((ttl >> (e - 2u)) & 3u);
}

static inline void exp_min(uint32_t *mn, uint32_t e)
{
	if (e && (!*mn || e < *mn))
		*mn = e;
}

static inline void exp_widen(uint32_t *mn, uint32_t *mx, uint32_t e)
{
	exp_min(mn, e);
	if (e && (!*mx || e > *mx))
		*mx = e;
}

/* ---- budgets ---------------------------------------------------------- */

static void apply_budgets(struct rc_store *s)
{
	uint32_t gen = __atomic_load_n(&s->req_gen, __ATOMIC_ACQUIRE);
	size_t avail;

	s->gen_seen = gen;
	s->limit = __atomic_load_n(&s->req_limit, __ATOMIC_RELAXED);
	avail = s->limit - s->st.index_bytes;
	s->total_budget = (uint32_t)(avail >> s->seg_shift);
	s->st.bytes_limit = s->limit;
	for (unsigned c = 0; c < s->cfg.n_classes; c++) {
		struct cls *C = &s->cls[c];

		C->share_ppm = __atomic_load_n(&s->req_share[c],
					       __ATOMIC_RELAXED);
		C->budget = (uint32_t)(((unsigned __int128)avail *
					C->share_ppm / RC_STORE_PPM) >>
				       s->seg_shift);
		C->st.budget_bytes = (uint64_t)((unsigned __int128)s->limit *
						C->share_ppm / RC_STORE_PPM);
	}
}

static inline void check_budgets(struct rc_store *s)
{
	if (unlikely(__atomic_load_n(&s->req_gen, __ATOMIC_RELAXED) !=
		     s->gen_seen))
		apply_budgets(s);
}

int rc_store_set_memory(struct rc_store *s, size_t bytes)
{
	if (bytes > s->cfg.memory_cap ||
	    bytes < s->st.index_bytes + s->seg_size)
		return -EINVAL;
	__atomic_store_n(&s->req_limit, bytes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->req_gen, 1, __ATOMIC_RELEASE);
	return 0;
}

void rc_store_set_stale_grace(struct rc_store *s, uint32_t seconds)
{
	__atomic_store_n(&s->stale_grace, seconds, __ATOMIC_RELAXED);
}

int rc_store_set_share(struct rc_store *s, uint8_t class_id,
		       uint32_t share_ppm)
{
	uint64_t sum = share_ppm;

	if (class_id >= s->cfg.n_classes)
		return -EINVAL;
	for (unsigned c = 0; c < s->cfg.n_classes; c++)
		if (c != class_id)
			sum += __atomic_load_n(&s->req_share[c],
					       __ATOMIC_RELAXED);
	if (sum > RC_STORE_PPM)
		return -EINVAL;
	__atomic_store_n(&s->req_share[class_id], share_ppm, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->req_gen, 1, __ATOMIC_RELEASE);
	return 0;
}

/* ---- segments --------------------------------------------------------- */

static void fifo_unlink(struct rc_store *s, struct cls *C, uint32_t id)
{
	struct seg *g = &s->segs[id];

	if (g->prev != NONE)
		s->segs[g->prev].next = g->next;
	else
		C->head = g->next;
	if (g->next != NONE)
		s->segs[g->next].prev = g->prev;
	else
		C->tail = g->prev;
	g->prev = g->next = NONE;
}

static void fifo_append(struct rc_store *s, struct cls *C, uint32_t id)
{
	struct seg *g = &s->segs[id];

	g->next = NONE;
	g->prev = C->tail;
	if (C->tail != NONE)
		s->segs[C->tail].next = id;
	else
		C->head = id;
	C->tail = id;
}

/* A segment with memory that no class owns, or NONE if the total budget
 * is used up. */
static uint32_t seg_take_free(struct rc_store *s)
{
	uint32_t id;

	if (s->free_head != NONE) {
		id = s->free_head;
		s->free_head = s->segs[id].next;
		s->n_free--;
		return id;
	}
	if (s->n_alloc >= s->total_budget || s->n_alloc >= s->n_segs_max)
		return NONE;
	for (id = 0; id < s->n_segs_max; id++)
		if (!s->segs[id].mem)
			break;
	if (id == s->n_segs_max)
		return NONE;
	s->segs[id].mem = mallocx(s->seg_size,
				  s->mflags | MALLOCX_ALIGN(s->seg_size));
	if (!s->segs[id].mem)
		return NONE;
	memcpy(s->segs[id].mem, &id, sizeof(id));
	s->n_alloc++;
	return id;
}

/* Make a free segment owned by class c, empty, at the FIFO tail. */
static void seg_give(struct rc_store *s, uint8_t c, uint32_t id)
{
	struct seg *g = &s->segs[id];

	g->seq = ++s->seq;
	g->wr = SEG_HDR;
	g->live_bytes = g->n_live = 0;
	g->min_exp = g->max_exp = 0;
	g->cls = c;
	g->state = SEG_SEALED;
	s->cls[c].nsegs++;
	s->n_owned++;
	fifo_append(s, &s->cls[c], id);
}

/* An owned segment holding no live item goes back to the free list, or
 * its memory back to jemalloc when over the total budget. */
static void seg_release(struct rc_store *s, uint32_t id)
{
	struct seg *g = &s->segs[id];
	struct cls *C = &s->cls[g->cls];

	if (g->state == SEG_OPEN)
		C->open[g->bucket] = NONE;
	if (C->ready == id)
		C->ready = NONE;
	if (g->state == SEG_OPEN || g->state == SEG_SEALED)
		fifo_unlink(s, C, id);
	if (s->sw_seg == id)
		s->sw_seg = NONE;
	C->nsegs--;
	s->n_owned--;
	g->state = SEG_FREE;
	if (unlikely(s->cfg.poison_released))
		memset(g->mem + SEG_HDR, 0xA5, s->seg_size - SEG_HDR);
	if (s->n_alloc > s->total_budget) {
		dallocx(g->mem, s->mflags);
		g->mem = NULL;
		s->n_alloc--;
		return;
	}
	g->next = s->free_head;
	s->free_head = id;
	s->n_free++;
}

/* ---- items ------------------------------------------------------------ */

static void unindex(struct rc_store *s, const struct rc_item *it)
{
	uint8_t d[RC_STORE_DIGEST_LEN];

	s->cfg.digest(item_key(it), it_klen(it), d);
	rte_hash_del_key_with_hash(s->index, ikey(d), sig_of(d));
}

/* The item stops being live: accounting, and an emptied segment that
 * nothing writes to any more is freed at once. */
static void uncount(struct rc_store *s, struct rc_item *it, struct seg *g)
{
	struct cls *C = &s->cls[g->cls];
	size_t sz = item_size(it);

	it_clear(it, IT_LIVE);
	g->live_bytes -= (uint32_t)sz;
	g->n_live--;
	C->st.items--;
	C->st.live_bytes -= sz;
	s->st.items--;
}

static void item_dead(struct rc_store *s, struct rc_item *it, uint32_t id)
{
	uncount(s, it, &s->segs[id]);
	if (s->segs[id].n_live == 0 && s->segs[id].state == SEG_SEALED)
		seg_release(s, id);
}

static void item_remove(struct rc_store *s, struct rc_item *it)
{
	unindex(s, it);
	item_dead(s, it, seg_of(s, it));
}

/* ---- eviction: in-place compaction of a class's oldest segment -------- */

/* Of the class's oldest few segments, the one with clearly the most dead
 * space (deleted, overwritten, expired items), else the oldest: like a
 * log-structured file system's cleaner, so overwrite-heavy traffic does not
 * fill memory with old versions while live items are evicted. */
#define VICTIM_WINDOW 8
static uint32_t pick_victim(const struct rc_store *s, const struct cls *C)
{
	uint32_t best = C->head, id = C->head;

	for (int i = 0; i < VICTIM_WINDOW && id != NONE; i++) {
		if (s->segs[id].live_bytes + s->seg_size / 8 <
		    s->segs[best].live_bytes)
			best = id;
		id = s->segs[id].next;
	}
	return best;
}

/* Start compacting segment id of class c: one it owns in its FIFO, or
 * its ready one (dropped whole when trimming). */
static void reclaim_begin(struct rc_store *s, uint8_t c, uint32_t id,
			  bool drop_all)
{
	struct cls *C = &s->cls[c];
	struct seg *g = &s->segs[id];

	if (g->state == SEG_OPEN)
		C->open[g->bucket] = NONE;
	if (s->sw_seg == id)
		s->sw_seg = NONE;
	if (C->ready == id)
		C->ready = NONE;
	else
		fifo_unlink(s, C, id);
	g->state = SEG_RECLAIM;
	g->seq_prev = g->seq;
	g->seq = ++s->seq;      /* kept items get fresh CAS values */
	C->reclaim = id;
	C->rd = C->wr = SEG_HDR;
	C->kept_min = C->kept_max = 0;
	C->drop_all = drop_all;
	/* Mostly dead space: compacting it keeps every live item. */
	C->keep_all = g->live_bytes <= (s->seg_size - SEG_HDR) / 2;
}

static bool reclaim_start(struct rc_store *s, uint8_t c, bool drop_all)
{
	if (s->cls[c].head == NONE)
		return false;
	reclaim_begin(s, c, pick_victim(s, &s->cls[c]), drop_all);
	return true;
}

/* Advance class c's compaction by up to work items.
 * @return items examined. */
static unsigned reclaim_step(struct rc_store *s, uint8_t c, uint32_t now,
			     unsigned work)
{
	struct cls *C = &s->cls[c];
	uint32_t id = C->reclaim;
	struct seg *g = &s->segs[id];
	const uint32_t keep_max = (s->seg_size - SEG_HDR) / 2;
	unsigned n = 0;

	while (n < work && C->rd < g->wr) {
		struct rc_item *it = (struct rc_item *)(g->mem + C->rd);
		size_t sz = item_size(it);

		C->rd += (uint32_t)sz;
		n++;
		if (!it_has(it, IT_LIVE))
			continue;
		if (expired(it, now)) {
			C->st.expirations++;
			s->st.expirations++;
		} else if (!C->drop_all &&
			   (C->keep_all || (s->cfg.policy == RC_STORE_CLOCK &&
					    it_has(it, IT_VISITED))) &&
			   C->wr - SEG_HDR + sz <= keep_max) {
			struct rc_item *to = (struct rc_item *)(g->mem + C->wr);
			uint8_t d[RC_STORE_DIGEST_LEN];

			if (to != it)
				memmove(to, it, sz);
			it_clear(to, IT_VISITED);
			s->cfg.digest(item_key(to), it_klen(to), d);
			/* Same key: rte_hash replaces the data in place. */
			rte_hash_add_key_with_hash_data(s->index, ikey(d),
							sig_of(d),
							ix_data(to, c));
			C->wr += (uint32_t)sz;
			exp_widen(&C->kept_min, &C->kept_max, to->expire);
			C->st.reinserted++;
			s->st.reinserted++;
			continue;
		} else {
			C->st.evictions++;
			s->st.evictions++;
		}
		unindex(s, it);
		uncount(s, it, g); /* never frees: the segment is reclaiming */
	}
	if (C->rd < g->wr)
		return n;
	/* Done: what was kept sits at the front. */
	g->wr = C->wr;
	g->min_exp = C->kept_min;
	g->max_exp = C->kept_max;
	C->reclaim = NONE;
	if (C->drop_all) {
		seg_release(s, id);
		return n;
	}
	g->state = SEG_READY;
	C->ready = id;
	return n;
}

static void reclaim_finish(struct rc_store *s, uint8_t c, uint32_t now)
{
	while (s->cls[c].reclaim != NONE)
		reclaim_step(s, c, now, UINT32_MAX);
}

/* The class over its budget by the most, sparing protected classes. */
static int worst_borrower(const struct rc_store *s, int skip)
{
	int best = -1;
	int64_t best_over = 0;

	for (int pass = 0; pass < 2 && best < 0; pass++)
		for (unsigned c = 0; c < s->cfg.n_classes; c++) {
			const struct cls *C = &s->cls[c];
			int64_t over = (int64_t)C->nsegs - C->budget;

			if ((int)c == skip || (pass == 0 && C->protect) ||
			    over <= 0 || over <= best_over)
				continue;
			best = (int)c;
			best_over = over;
		}
	return best;
}

/* The class holding the most segments (any class can give way when
 * the index, not memory, is full), or -1 if none holds any. */
static int fullest_class(const struct rc_store *s)
{
	int best = -1;

	for (unsigned c = 0; c < s->cfg.n_classes; c++)
		if (s->cls[c].nsegs &&
		    (best < 0 || s->cls[c].nsegs > s->cls[best].nsegs))
			best = (int)c;
	return best;
}

/* Free one whole segment of class v now (nothing kept). */
static bool evict_segment_now(struct rc_store *s, uint8_t v, uint32_t now)
{
	struct cls *V = &s->cls[v];

	reclaim_finish(s, v, now);
	/* A ready segment goes first: its kept items are the newest copy of
	 * old data, at most half a segment of work. */
	if (V->ready != NONE)
		reclaim_begin(s, v, V->ready, true);
	else if (!reclaim_start(s, v, true))
		return false;
	reclaim_finish(s, v, now);
	return true;
}

/* A new empty segment for class c, or NONE (c may hold no more). */
static uint32_t seg_new(struct rc_store *s, uint8_t c, uint32_t now)
{
	struct cls *C = &s->cls[c];
	uint32_t id;

	if (C->nsegs < C->budget ||
	    (s->cfg.borrowing && s->n_owned < s->total_budget)) {
		id = seg_take_free(s);
		/* Others borrowed our share: take it back. After the budget
		 * shrank, freed segments go back to the system until memory
		 * is under it, so it may take several. */
		while (id == NONE && C->nsegs < C->budget) {
			int v = worst_borrower(s, c);

			if (v < 0 || !evict_segment_now(s, (uint8_t)v, now))
				break;
			id = seg_take_free(s);
		}
		if (id != NONE) {
			seg_give(s, c, id);
			return id;
		}
	}
	/* At budget: reuse our oldest segment, compacted. */
	C->pressure = true;
	/* A pass under way ends first; a trimming one (the budget shrank)
	 * frees its segment rather than leave one ready, so then compact
	 * our oldest as well. */
	if (C->ready == NONE && C->reclaim != NONE)
		reclaim_finish(s, c, now);
	if (C->ready == NONE) {
		if (!reclaim_start(s, c, false))
			return NONE;
		s->st.reclaims_inline++;
		reclaim_finish(s, c, now);
	}
	id = C->ready;
	if (id == NONE)
		return NONE;
	C->ready = NONE;
	s->segs[id].state = SEG_SEALED;
	fifo_append(s, C, id);
	return id;
}

/* Room for sz bytes in class c's open segment for this TTL bucket. */
static struct rc_item *item_alloc(struct rc_store *s, uint8_t c,
				  unsigned b, size_t sz, uint32_t now)
{
	struct cls *C = &s->cls[c];
	uint32_t id = C->open[b];
	struct seg *g;

	if (id != NONE && s->segs[id].wr + sz > s->seg_size &&
	    s->segs[id].n_live == 0) {
		/* Full of dead items only: start it over. */
		g = &s->segs[id];
		g->wr = SEG_HDR;
		g->seq = ++s->seq;
		g->min_exp = g->max_exp = 0;
		if (s->sw_seg == id)
			s->sw_seg = NONE;
	}
	if (id == NONE || s->segs[id].wr + sz > s->seg_size) {
		if (id != NONE) {
			s->segs[id].state = SEG_SEALED;
			C->open[b] = NONE;
		}
		id = seg_new(s, c, now);
		if (id == NONE)
			return NULL;
		/* A kept-items segment may lack room for a large item. */
		if (s->segs[id].wr + sz > s->seg_size)
			return NULL;
		s->segs[id].state = SEG_OPEN;
		s->segs[id].bucket = (uint16_t)b;
		C->open[b] = id;
	}
	g = &s->segs[id];
	g->wr += (uint32_t)sz;
	return (struct rc_item *)(g->mem + g->wr - sz);
}

/* ---- create / destroy ------------------------------------------------- */

struct rc_store *rc_store_create(const struct rc_store_config *cfg)
{
	struct rte_malloc_socket_stats before, after;
	char hname[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters hp = {0};
	uint64_t share_sum = 0;
	size_t sz = sizeof(unsigned);
	struct rc_store *s;
	int heap_socket;

	if (!cfg || !cfg->name || cfg->max_items < 8 || cfg->max_key_len == 0 ||
	    cfg->max_key_len > UINT8_MAX || cfg->memory_limit == 0 ||
	    cfg->max_value_len > RC_STORE_MAX_VALUE ||
	    !cfg->digest || cfg->n_classes == 0 ||
	    cfg->n_classes > RC_STORE_MAX_CLASSES ||
	    (cfg->memory_cap && cfg->memory_cap < cfg->memory_limit))
		goto inval;
	for (unsigned c = 0; c < cfg->n_classes; c++)
		share_sum += cfg->classes[c].share_ppm;
	if (share_sum > RC_STORE_PPM)
		goto inval;
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->cfg = *cfg;
	if (!s->cfg.memory_cap)
		s->cfg.memory_cap = cfg->memory_limit;
	s->seg_size = cfg->segment_size ? cfg->segment_size : 1u << 20;
	if (s->seg_size < RC_STORE_MIN_SEGMENT ||
	    s->seg_size > RC_STORE_MAX_SEGMENT ||
	    (s->seg_size & (s->seg_size - 1)) ||
	    SEG_HDR + rc_store_item_size((uint16_t)cfg->max_key_len,
					 cfg->max_value_len, 1) >
		    s->seg_size) {
		free(s);
		goto inval;
	}
	s->seg_shift = (uint32_t)__builtin_ctz(s->seg_size);
	s->n_segs_max = (uint32_t)(s->cfg.memory_cap >> s->seg_shift);
	s->segs = calloc(s->n_segs_max ? s->n_segs_max : 1, sizeof(*s->segs));
	if (!s->segs) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < s->n_segs_max; i++)
		s->segs[i].prev = s->segs[i].next = NONE;
	s->free_head = s->sw_seg = NONE;
	for (unsigned c = 0; c < RC_STORE_MAX_CLASSES; c++) {
		struct cls *C = &s->cls[c];

		C->head = C->tail = C->reclaim = C->ready = NONE;
		for (unsigned b = 0; b < N_BUCKETS; b++)
			C->open[b] = NONE;
		C->protect = cfg->classes[c].protect;
		s->req_share[c] = cfg->classes[c].share_ppm;
	}
	if (mallctl("arenas.create", &s->arena, &sz, NULL, 0) != 0) {
		free(s->segs);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->mflags = MALLOCX_ARENA(s->arena) | MALLOCX_TCACHE_NONE;

	snprintf(hname, sizeof(hname), "rc_%s", cfg->name);
	hp.name = hname;
	hp.entries = cfg->max_items;
	hp.key_len = 8;
	hp.hash_func = ikey_sig;
	hp.socket_id = cfg->socket_id;
	/* No extendable buckets: the index is 8-byte keys in a cuckoo table
	 * and a full one makes the class evict (index_full). */

	/* The index counts against the memory limit: measure what it takes. */
	heap_socket = cfg->socket_id < 0 ? 0 : cfg->socket_id;
	rte_malloc_get_socket_stats(heap_socket, &before);
	s->index = rte_hash_create(&hp);
	if (!s->index) {
		int err = rte_errno;

		rc_store_destroy(s);
		errno = err == EEXIST ? EEXIST : (err ? err : ENOMEM);
		return NULL;
	}
	rte_malloc_get_socket_stats(heap_socket, &after);
	s->st.index_bytes = after.heap_allocsz_bytes > before.heap_allocsz_bytes
				    ? after.heap_allocsz_bytes -
					      before.heap_allocsz_bytes
				    : 0;
	if (s->st.index_bytes + s->seg_size > cfg->memory_limit) {
		rc_store_destroy(s);
		goto inval;
	}
	s->req_limit = cfg->memory_limit;
	apply_budgets(s);
	return s;
inval:
	errno = EINVAL;
	return NULL;
}

void rc_store_destroy(struct rc_store *s)
{
	char cmd[64];

	if (!s)
		return;
	rte_hash_free(s->index);
	for (uint32_t i = 0; i < s->n_segs_max; i++)
		if (s->segs[i].mem)
			dallocx(s->segs[i].mem, s->mflags);
	snprintf(cmd, sizeof(cmd), "arena.%u.destroy", s->arena);
	mallctl(cmd, NULL, NULL, NULL, 0);
	free(s->segs);
	free(s);
}

/* ---- operations ------------------------------------------------------- */

/* Is this index entry key's live item? Expired ones are removed, except
 * that a read (stale != NULL) within the serve-stale grace gets the item
 * with *stale set. */
static struct rc_item *check(struct rc_store *s, void *data, const void *key,
			     uint16_t key_len, uint32_t now, uint8_t *stale)
{
	struct rc_item *it = ix_item(data);

	/* A digest collision is a miss, never another key's value. */
	if (it_klen(it) != key_len || memcmp(item_key(it), key, key_len) != 0)
		return NULL;
	if (expired(it, now)) {
		uint32_t grace = __atomic_load_n(&s->stale_grace,
						 __ATOMIC_RELAXED);

		if (stale && grace && now - it->expire < grace) {
			*stale = 1;
			return it;
		}
		s->cls[ix_cls(data)].st.expirations++;
		s->st.expirations++;
		item_remove(s, it);
		return NULL;
	}
	return it;
}

/* A live item for key and its class, or NULL. */
static struct rc_item *lookup(struct rc_store *s, const void *digest,
			      const void *key, uint16_t key_len, uint32_t now,
			      uint8_t *cls, uint8_t *stale)
{
	void *data;

	if (rte_hash_lookup_with_hash_data(s->index, ikey(digest),
					   sig_of(digest), &data) < 0)
		return NULL;
	*cls = ix_cls(data);
	return check(s, data, key, key_len, now, stale);
}

static void view_of(const struct rc_store *s, const struct rc_item *it,
		    uint8_t cls, struct rc_store_item_view *out)
{
	out->value = item_key(it) + it_klen(it);
	out->value_len = it_vlen(it);
	out->client_flags = item_cflags(it);
	out->cas = cas_of(s, it);
	out->class_id = cls;
}

/* it's class is cls; a miss counts against class_id, if one is given. */
static inline void count_get(struct rc_store *s, struct rc_item *it,
			     uint8_t cls, uint8_t class_id)
{
	s->st.gets++;
	if (it) {
		s->st.hits++;
		s->cls[cls].st.gets++;
		s->cls[cls].st.hits++;
		it_set(it, IT_VISITED);
		return;
	}
	s->st.misses++;
	rc_store_count_miss(s, class_id);
}

enum rc_store_result rc_store_get(struct rc_store *s, const void *digest,
				  const void *key, uint16_t key_len,
				  uint8_t class_id, uint32_t now,
				  struct rc_store_item_view *out)
{
	uint8_t cls = 0, stale = 0;
	struct rc_item *it = lookup(s, digest, key, key_len, now, &cls,
				    &stale);

	count_get(s, it, cls, class_id);
	if (!it)
		return RC_STORE_NOT_FOUND;
	view_of(s, it, cls, out);
	out->stale = stale;
	s->st.stale_hits += stale;
	return RC_STORE_OK;
}

void rc_store_count_miss(struct rc_store *s, uint8_t class_id)
{
	if (class_id < RC_STORE_MAX_CLASSES && class_id < s->cfg.n_classes) {
		s->cls[class_id].st.gets++;
		s->cls[class_id].st.misses++;
	}
}

/* Was this index entry's item removed earlier in the same bulk? */
static inline bool bulk_gone(void *const *gone, unsigned n, const void *d)
{
	for (unsigned i = 0; i < n; i++)
		if (gone[i] == d)
			return true;
	return false;
}

void rc_store_get_bulk(struct rc_store *s, unsigned n,
		       const void *const digests[], const void *const keys[],
		       const uint16_t key_lens[], uint32_t now,
		       struct rc_store_item_view out[],
		       enum rc_store_result res[])
{
	const void *ik[RC_STORE_BULK];
	void *data[RC_STORE_BULK], *gone[RC_STORE_BULK];
	unsigned n_gone = 0;
	uint64_t hits = 0;

	if (n > RC_STORE_BULK)
		n = RC_STORE_BULK;
	for (unsigned i = 0; i < n; i++)
		ik[i] = ikey(digests[i]);
	if (n == 0 || rte_hash_lookup_bulk_data(s->index, ik, n, &hits,
						data) < 0)
		hits = 0;
	for (unsigned i = 0; i < n; i++)
		if (hits & (1ull << i))
			rte_prefetch0(ix_item(data[i]));
	for (unsigned i = 0; i < n; i++) {
		struct rc_item *it = NULL;
		uint8_t cls = 0, stale = 0;

		if (hits & (1ull << i) && !bulk_gone(gone, n_gone, data[i])) {
			uint64_t exp0 = s->st.expirations;

			cls = ix_cls(data[i]);
			it = check(s, data[i], keys[i], key_lens[i], now,
				   &stale);
			/* An expired item was removed: a later copy of the
			 * same key in this bulk must not remove it again (its
			 * segment would count one live item too few, and be
			 * freed under another live item). */
			if (s->st.expirations != exp0)
				gone[n_gone++] = data[i];
		}
		count_get(s, it, cls, RC_STORE_NO_CLASS);
		res[i] = it ? RC_STORE_OK : RC_STORE_NOT_FOUND;
		if (it) {
			view_of(s, it, cls, &out[i]);
			out[i].stale = stale;
			s->st.stale_hits += stale;
		}
	}
}

static struct rc_item *write_item(struct rc_store *s, uint8_t c,
				  const void *key, uint16_t key_len,
				  const void *value, uint32_t value_len,
				  uint32_t client_flags, uint32_t ttl,
				  uint32_t now)
{
	size_t sz = rc_store_item_size(key_len, value_len, client_flags);
	struct rc_item *it = item_alloc(s, c, bucket_of(ttl), sz, now);
	uint8_t *p;
	struct seg *g;

	if (!it)
		return NULL;
	it->expire = expiry_of(ttl, now);
	it->meta = value_len | (uint32_t)key_len << 21 |
		   (uint32_t)(IT_LIVE | (client_flags ? IT_CFLAGS : 0)) << 29;
	p = it->data;
	if (client_flags) {
		memcpy(p, &client_flags, 4);
		p += 4;
	}
	memcpy(p, key, key_len);
	if (value_len)
		memcpy(p + key_len, value, value_len);
	g = &s->segs[seg_of(s, it)];
	g->live_bytes += (uint32_t)sz;
	g->n_live++;
	exp_widen(&g->min_exp, &g->max_exp, it->expire);
	s->cls[c].st.items++;
	s->cls[c].st.live_bytes += sz;
	s->st.items++;
	return it;
}

enum rc_store_result rc_store_set(struct rc_store *s, const void *digest,
				  const void *key, uint16_t key_len,
				  const void *value, uint32_t value_len,
				  uint32_t client_flags, uint32_t ttl,
				  uint64_t cas, uint8_t class_id, uint32_t now,
				  uint64_t *cas_out)
{
	struct rc_item *old, *it;
	uint8_t ocls;

	if (key_len == 0 || key_len > s->cfg.max_key_len ||
	    value_len > s->cfg.max_value_len)
		return RC_STORE_TOO_LARGE;
	if (class_id >= s->cfg.n_classes)
		return RC_STORE_BAD_CLASS;
	check_budgets(s);

	old = lookup(s, digest, key, key_len, now, &ocls, NULL);
	if (cas != 0) {
		if (!old)
			return RC_STORE_NOT_FOUND;
		if (cas_of(s, old) != cas) {
			s->st.cas_mismatches++;
			return RC_STORE_EXISTS;
		}
	}
	/* Written before the old version goes: making room may move items,
	 * and a failed write must leave the old value in place. */
	for (int tries = 0;; tries++) {
		struct rc_item *cur = NULL;
		void *data;
		int rc;

		it = write_item(s, class_id, key, key_len, value, value_len,
				client_flags, ttl, now);
		if (!it)
			return RC_STORE_NO_MEMORY;
		/* Whatever the index holds now (the old version, wherever
		 * making room moved it, or a digest collision's item) dies
		 * once the index points at the new item. */
		if (rte_hash_lookup_with_hash_data(s->index, ikey(digest),
						   sig_of(digest), &data) >= 0)
			cur = ix_item(data);
		rc = rte_hash_add_key_with_hash_data(s->index, ikey(digest),
						     sig_of(digest),
						     ix_data(it, class_id));
		if (rc == 0) {
			if (cur && cur != it && it_has(cur, IT_LIVE))
				item_dead(s, cur, seg_of(s, cur));
			break;
		}
		item_dead(s, it, seg_of(s, it));
		if (rc != -ENOSPC || tries >= RC_STORE_INDEX_TRIES)
			return RC_STORE_NO_MEMORY;
		/* Index full: free a whole segment, then write again. One
		 * segment need not free a slot in this key's two cuckoo
		 * buckets (nor any item: a ready segment may be empty), so
		 * keep going, bounded. */
		if (tries == 0)
			s->st.index_full++;
		if (!evict_segment_now(s, class_id, now)) {
			int v = worst_borrower(s, -1);

			if (v < 0)
				v = fullest_class(s);
			if (v < 0 || !evict_segment_now(s, (uint8_t)v, now))
				return RC_STORE_NO_MEMORY;
		}
	}
	s->st.sets++;
	s->cls[class_id].st.sets++;
	if (cas_out)
		*cas_out = cas_of(s, it);
	return RC_STORE_OK;
}

enum rc_store_result rc_store_delete(struct rc_store *s, const void *digest,
				     const void *key, uint16_t key_len,
				     uint64_t cas, uint32_t now)
{
	uint8_t cls;
	struct rc_item *it = lookup(s, digest, key, key_len, now, &cls, NULL);

	if (!it)
		return RC_STORE_NOT_FOUND;
	if (cas != 0 && cas_of(s, it) != cas) {
		s->st.cas_mismatches++;
		return RC_STORE_EXISTS;
	}
	s->st.deletes++;
	item_remove(s, it);
	return RC_STORE_OK;
}

enum rc_store_result rc_store_touch(struct rc_store *s, const void *digest,
				    const void *key, uint16_t key_len,
				    uint32_t ttl, uint32_t now,
				    uint64_t *cas_out)
{
	uint8_t cls;
	struct rc_item *it = lookup(s, digest, key, key_len, now, &cls, NULL);
	uint32_t id;

	if (!it)
		return RC_STORE_NOT_FOUND;
	s->st.touches++;
	it->expire = expiry_of(ttl, now);
	id = seg_of(s, it);
	exp_widen(&s->segs[id].min_exp, &s->segs[id].max_exp, it->expire);
	if (s->sw_seg == id)
		exp_min(&s->sw_min, it->expire);
	if (s->cls[cls].reclaim == id)
		exp_widen(&s->cls[cls].kept_min, &s->cls[cls].kept_max,
			  it->expire);
	if (cas_out)
		*cas_out = cas_of(s, it);
	return RC_STORE_OK;
}

/* ---- background work -------------------------------------------------- */

/* Sweep expired items out of segments whose earliest expiry has passed,
 * a few items per call. @return items examined. */
static unsigned sweep(struct rc_store *s, uint32_t now, unsigned work)
{
	unsigned n = 0, looked = 0;

	while (n < work) {
		struct seg *g;

		if (s->sw_seg == NONE) {
			/* Find the next due segment; metadata is small, but
			 * bound the look per call anyway. */
			for (; looked < 256 && s->n_segs_max; looked++) {
				uint32_t id = s->sw_next;
				struct seg *c = &s->segs[id];

				s->sw_next = (id + 1) % s->n_segs_max;
				if ((c->state == SEG_OPEN ||
				     c->state == SEG_SEALED ||
				     c->state == SEG_READY) &&
				    c->min_exp &&
				    now >= c->min_exp) {
					s->sw_seg = id;
					s->sw_off = SEG_HDR;
					s->sw_min = 0;
					break;
				}
			}
			if (s->sw_seg == NONE)
				return n;
		}
		g = &s->segs[s->sw_seg];
		while (n < work && s->sw_off < g->wr) {
			struct rc_item *it =
				(struct rc_item *)(g->mem + s->sw_off);
			uint32_t id = s->sw_seg;

			s->sw_off += (uint32_t)item_size(it);
			n++;
			if (!it_has(it, IT_LIVE))
				continue;
			if (!expired(it, now)) {
				exp_min(&s->sw_min, it->expire);
				continue;
			}
			s->cls[g->cls].st.expirations++;
			s->st.expirations++;
			unindex(s, it);
			item_dead(s, it, id);
			if (s->sw_seg == NONE)
				break; /* the segment emptied and was freed */
		}
		if (s->sw_seg == NONE)
			continue;
		if (s->sw_off < g->wr)
			return n;
		g->min_exp = s->sw_min;
		if (g->n_live == 0 && g->state != SEG_SEALED) {
			g->wr = SEG_HDR; /* open or ready: reuse from the top */
			g->seq = ++s->seq;
			g->min_exp = g->max_exp = 0;
		}
		s->sw_seg = NONE;
	}
	return n;
}

unsigned rc_store_maintain(struct rc_store *s, uint32_t now, unsigned work)
{
	unsigned n = 0;
	uint32_t grace;
	bool free_seg;

	check_budgets(s);
	/* Expired items wait out the serve-stale grace before the sweep. */
	grace = __atomic_load_n(&s->stale_grace, __ATOMIC_RELAXED);
	n += sweep(s, now > grace ? now - grace : 0, work);
	/* Memory above the total budget (it shrank): return free segments,
	 * then trim whole segments from the classes most over budget. */
	while (s->free_head != NONE && s->n_alloc > s->total_budget) {
		uint32_t id = s->free_head;

		s->free_head = s->segs[id].next;
		s->n_free--;
		dallocx(s->segs[id].mem, s->mflags);
		s->segs[id].mem = NULL;
		s->n_alloc--;
	}
	free_seg = s->free_head != NONE || s->n_alloc < s->total_budget;
	for (unsigned c = 0; c < s->cfg.n_classes && n < work; c++) {
		struct cls *C = &s->cls[c];
		int v = -1;

		if (C->reclaim != NONE) {
			n += reclaim_step(s, (uint8_t)c, now, work - n);
			continue;
		}
		if (C->nsegs > C->budget &&
		    (!s->cfg.borrowing || s->n_owned > s->total_budget)) {
			/* Over budget with no right to it (the budget shrank,
			 * or borrowing is off): give segments back. */
			v = worst_borrower(s, -1);
		} else if (s->cfg.borrowing && !free_seg &&
			   C->nsegs < C->budget) {
			/* A lender may want its memory back soon: keep one
			 * segment free by trimming a borrower ahead of time. */
			v = worst_borrower(s, (int)c);
		} else if (C->pressure && C->ready == NONE &&
			   C->nsegs >= C->budget &&
			   !(s->cfg.borrowing && free_seg)) {
			/* Writing at its budget: compact the oldest segment
			 * before the next SET has to. */
			C->pressure = false;
			if (reclaim_start(s, (uint8_t)c, false))
				n += reclaim_step(s, (uint8_t)c, now, work - n);
			continue;
		}
		if (v < 0 || s->cls[v].reclaim != NONE)
			continue;
		if (s->cls[v].ready != NONE) {
			/* At most half a segment of kept items: drop now. */
			evict_segment_now(s, (uint8_t)v, now);
			n++;
		} else if (reclaim_start(s, (uint8_t)v, true)) {
			n += reclaim_step(s, (uint8_t)v, now, work - n);
		}
		free_seg = true;
	}
	return n;
}

/* ---- verification (tests) --------------------------------------------- */

int rc_store_verify(struct rc_store *s, char *err, size_t errlen)
{
	uint64_t items = 0;

	for (uint32_t id = 0; id < s->n_segs_max; id++) {
		const struct seg *g = &s->segs[id];
		uint32_t n = 0, bytes = 0, off = SEG_HDR;

		if (g->state == SEG_FREE || !g->mem)
			continue;
		const struct cls *C = &s->cls[g->cls];
		/* A reclaiming segment holds kept items before C->wr and
		 * items still to look at from C->rd; what lies between is
		 * stale copies. Its counts are exact once the pass ends. */
		const bool rec = g->state == SEG_RECLAIM;

		while (off < g->wr) {
			struct rc_item *it = (struct rc_item *)(g->mem + off);
			uint8_t d[RC_STORE_DIGEST_LEN];
			void *data;

			if (rec && off >= C->wr && off < C->rd) {
				off = C->rd;
				continue;
			}
			off += (uint32_t)item_size(it);
			if (!it_has(it, IT_LIVE))
				continue;
			n++;
			bytes += (uint32_t)item_size(it);
			s->cfg.digest(item_key(it), it_klen(it), d);
			if (rte_hash_lookup_with_hash_data(s->index, ikey(d),
							   sig_of(d),
							   &data) < 0 ||
			    ix_item(data) != it) {
				snprintf(err, errlen, "segment %u: a live item "
					 "at %u is not what the index holds",
					 id, off);
				return -EFAULT;
			}
		}
		if (!rec && (n != g->n_live || bytes != g->live_bytes)) {
			snprintf(err, errlen, "segment %u (state %u): %u live "
				 "items of %u bytes, counted %u of %u", id,
				 g->state, n, bytes, g->n_live,
				 g->live_bytes);
			return -EFAULT;
		}
		items += n;
	}
	/* Every index entry is one of those live items: none dangles. */
	if ((uint64_t)rte_hash_count(s->index) != items) {
		snprintf(err, errlen, "the index holds %d entries, the "
			 "segments %" PRIu64 " live items",
			 rte_hash_count(s->index), items);
		return -EFAULT;
	}
	return 0;
}

/* ---- stats ------------------------------------------------------------ */

void rc_store_get_stats(const struct rc_store *s, struct rc_store_stats *st)
{
	*st = s->st;
	st->segments = s->n_owned;
	st->segments_free = s->n_free;
	st->bytes_used = s->st.index_bytes + (uint64_t)s->n_alloc * s->seg_size;
}

int rc_store_get_class_stats(const struct rc_store *s, uint8_t class_id,
			     struct rc_store_class_stats *st)
{
	const struct cls *C;

	if (class_id >= s->cfg.n_classes)
		return -EINVAL;
	C = &s->cls[class_id];
	*st = C->st;
	st->segments = C->nsegs;
	st->used_bytes = (uint64_t)C->nsegs * s->seg_size +
			 (uint64_t)((unsigned __int128)s->st.index_bytes *
				    C->share_ppm / RC_STORE_PPM);
	return 0;
}

const char *rc_store_result_name(enum rc_store_result r)
{
	switch (r) {
	case RC_STORE_OK:
		return "ok";
	case RC_STORE_NOT_FOUND:
		return "not_found";
	case RC_STORE_EXISTS:
		return "exists";
	case RC_STORE_TOO_LARGE:
		return "too_large";
	case RC_STORE_NO_MEMORY:
		return "no_memory";
	case RC_STORE_BAD_CLASS:
		return "bad_class";
	}
	return "unknown";
}

/* ---- operator flush --------------------------------------------------- */

int rc_store_flush(struct rc_store *s, uint32_t *cursor, unsigned work,
		   rc_store_match_fn match, void *arg, uint64_t *removed)
{
	/* The index has no extension table, so deleting the entry just
	 * returned leaves the iteration's cursor valid. */
	for (unsigned i = 0; i < work; i++) {
		const void *k;
		void *data;
		struct rc_item *it;

		if (rte_hash_iterate(s->index, &k, &data, cursor) < 0)
			return 0;
		it = ix_item(data);
		if (match && !match(arg, item_key(it), it_klen(it),
				    ix_cls(data)))
			continue;
		item_remove(s, it);
		s->st.flushed++;
		(*removed)++;
	}
	return 1;
}

/* ---- snapshot --------------------------------------------------------- */

/* Items only ever move inside their own segment (compaction slides the
 * kept ones to its front, and gives the segment a new seq), so walking
 * segment by segment and restarting one whose seq changed under the walk
 * sees every item that stays live throughout. */
int rc_store_snapshot(struct rc_store *s, struct rc_store_cursor *cur,
		      unsigned work, uint32_t now, rc_store_item_fn fn,
		      void *arg)
{
	unsigned n = 0;

	while (n < work) {
		struct seg *g;

		if (cur->seg >= s->n_segs_max)
			return 0;
		g = &s->segs[cur->seg];
		if (g->state == SEG_FREE || !g->mem) {
			cur->seg++;
			cur->off = 0;
			continue;
		}
		if (g->state == SEG_RECLAIM)
			return 1; /* moving items: come back when it is done */
		if (cur->off == 0 || cur->seq != g->seq) {
			cur->off = SEG_HDR;
			cur->seq = g->seq;
		}
		while (n < work && cur->off < g->wr) {
			struct rc_item *it = (struct rc_item *)(g->mem + cur->off);
			struct rc_store_snap_item si;

			n++;
			if (!it_has(it, IT_LIVE) || expired(it, now)) {
				cur->off += (uint32_t)item_size(it);
				continue;
			}
			si.key = item_key(it);
			si.key_len = (uint16_t)it_klen(it);
			si.value = si.key + si.key_len;
			si.value_len = it_vlen(it);
			si.client_flags = item_cflags(it);
			si.ttl_left = it->expire ? it->expire - now : 0;
			si.class_id = g->cls;
			if (!fn(arg, &si))
				return 1; /* no room: the same item next time */
			cur->off += (uint32_t)item_size(it);
			cur->items++;
		}
		if (cur->off >= g->wr) {
			cur->seg++;
			cur->off = 0;
		}
	}
	return 1;
}

uint64_t rc_store_cas_seq(const struct rc_store *s)
{
	return s->seq;
}

void rc_store_cas_seq_raise(struct rc_store *s, uint64_t seq)
{
	if (seq > s->seq)
		s->seq = seq;
}
