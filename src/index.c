/* index.c - the index in memory and its bodies; see index.h, format-spec 6. */
#include "index.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "crypto.h"
#include "msgmeta.h"

static const char entry_label[] = "mbox-vault/v1 entry";

void mv_index_init(struct mv_index *ix)
{
	memset(ix, 0, sizeof *ix);
}

void mv_entry_release(struct mv_entry *en)
{
	for (size_t k = 0; k < en->nkw; k++)
		free(en->kw[k]);
	free(en->kw);
	free(en->srcmeta);
	memset(en, 0, sizeof *en);
}

void mv_index_release(struct mv_index *ix)
{
	for (size_t i = 0; i < ix->nf; i++) {
		struct mv_folder *f = &ix->f[i];

		mv_folder_clear(f);
		free(f->name);
	}
	free(ix->f);
	free(ix->source);
	free(ix->info);
	mv_index_init(ix);
}

struct mv_folder *mv_index_folder(struct mv_index *ix, const char *name, size_t len)
{
	for (size_t i = 0; i < ix->nf; i++)
		if (ix->f[i].name_len == len && memcmp(ix->f[i].name, name, len) == 0)
			return &ix->f[i];
	return NULL;
}

struct mv_folder *mv_index_add_folder(struct mv_index *ix, const char *name,
				      size_t len, uint8_t delim)
{
	struct mv_folder *f;

	if (len == 0 || len > MV_MAX_FOLDER_NAME || ix->nf >= MV_MAX_FOLDERS)
		return NULL;
	if (ix->nf == ix->cap) {
		size_t nc = ix->cap ? ix->cap * 2 : 16;
		struct mv_folder *nf = realloc(ix->f, nc * sizeof *nf);

		if (!nf)
			return NULL;
		ix->f = nf;
		ix->cap = nc;
	}
	f = &ix->f[ix->nf];
	memset(f, 0, sizeof *f);
	f->name = malloc(len + 1);
	if (!f->name)
		return NULL;
	memcpy(f->name, name, len);
	f->name[len] = '\0';
	f->name_len = (uint16_t)len;
	f->delim = delim;
	ix->nf++;
	return f;
}

void mv_folder_clear(struct mv_folder *f)
{
	if (!f->borrowed) {
		for (size_t j = 0; j < f->n; j++)
			mv_entry_release(&f->e[j]);
		free(f->e);
	}
	f->e = NULL;
	f->n = f->cap = 0;
	f->borrowed = 0;
}

int mv_folder_borrow(struct mv_folder *f, const struct mv_folder *src)
{
	if (f->n)
		return -1;
	free(f->borrowed ? NULL : f->e);
	f->e = src->e;
	f->n = f->cap = src->n;
	f->borrowed = 1;
	return 0;
}

/* Makes a borrowed folder's entries its own copies.  -1: out of memory
 * (f is then left as it was). */
static int own(struct mv_folder *f)
{
	struct mv_entry *ne;
	size_t i;

	if (!f->borrowed)
		return 0;
	if (!(ne = malloc((f->n ? f->n : 1) * sizeof *ne)))
		return -1;
	for (i = 0; i < f->n; i++)
		if (mv_entry_copy(&ne[i], &f->e[i]) != 0)
			break;
	if (i < f->n) {
		/* mv_entry_copy leaves a failed copy releasable. */
		for (size_t j = 0; j <= i; j++)
			mv_entry_release(&ne[j]);
		free(ne);
		return -1;
	}
	f->e = ne;
	f->cap = f->n;
	f->borrowed = 0;
	return 0;
}

int mv_folder_reserve(struct mv_folder *f, size_t more)
{
	struct mv_entry *ne;

	if (own(f))
		return -1;
	if (more <= f->cap - f->n)
		return 0;
	if (more > SIZE_MAX / sizeof *ne - f->n)
		return -1;
	if (!(ne = realloc(f->e, (f->n + more) * sizeof *ne)))
		return -1;
	f->e = ne;
	f->cap = f->n + more;
	return 0;
}

struct mv_entry *mv_folder_add_entry(struct mv_folder *f)
{
	if (own(f))
		return NULL;
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 64;
		struct mv_entry *ne = realloc(f->e, nc * sizeof *ne);

		if (!ne)
			return NULL;
		f->e = ne;
		f->cap = nc;
	}
	memset(&f->e[f->n], 0, sizeof f->e[0]);
	return &f->e[f->n++];
}

static int cmp_uid(const void *a, const void *b)
{
	const struct mv_entry *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

int mv_folder_sort(struct mv_folder *f)
{
	size_t i;

	/* Entries in order are left where they are (a borrowed folder
	 * usually is, and is then not copied). */
	for (i = 1; i < f->n; i++)
		if (f->e[i].uid <= f->e[i - 1].uid)
			break;
	if (i >= f->n)
		return 0;
	if (own(f))
		return -2;
	qsort(f->e, f->n, sizeof f->e[0], cmp_uid);
	for (i = 1; i < f->n; i++)
		if (f->e[i].uid == f->e[i - 1].uid)
			return -1;
	return 1;
}

struct mv_entry *mv_folder_find_uid(struct mv_folder *f, uint32_t uid)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->e[mid].uid == uid)
			return &f->e[mid];
		if (f->e[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int mv_entry_copy(struct mv_entry *dst, const struct mv_entry *src)
{
	*dst = *src;
	dst->kw = NULL;
	dst->srcmeta = NULL;
	dst->nkw = 0;
	if (src->nkw) {
		dst->kw = calloc(src->nkw, sizeof *dst->kw);
		if (!dst->kw)
			return -1;
		for (size_t k = 0; k < src->nkw; k++) {
			dst->kw[k] = strdup(src->kw[k]);
			if (!dst->kw[k])
				return -1;
			dst->nkw++;
		}
	}
	dst->srcmeta = malloc((size_t)src->srcmeta_len + 1);
	if (!dst->srcmeta)
		return -1;
	if (src->srcmeta_len)
		memcpy(dst->srcmeta, src->srcmeta, src->srcmeta_len);
	dst->srcmeta[src->srcmeta_len] = '\0';
	return 0;
}

void mv_blobref_encode(uint8_t out[MV_BLOBREF_LEN], const struct mv_blobref *b)
{
	memcpy(out, b->id, 16);
	mv_st64(out + 16, b->first_seq);
	mv_st64(out + 24, b->first_off);
	mv_st32(out + 32, b->nchunks);
	mv_st64(out + 36, b->raw_size);
	mv_st64(out + 44, b->stored_size);
	mv_st64(out + 52, b->padded_size);
	out[60] = b->comp;
	memcpy(out + 61, b->content_hash, 32);
	memset(out + 93, 0, 8);
}

enum mv_err mv_blobref_decode(const uint8_t in[MV_BLOBREF_LEN], struct mv_blobref *b,
			      unsigned chunk_log, struct mv_error *e)
{
	uint64_t want;

	memcpy(b->id, in, 16);
	b->first_seq = mv_ld64(in + 16);
	b->first_off = mv_ld64(in + 24);
	b->nchunks = mv_ld32(in + 32);
	b->raw_size = mv_ld64(in + 36);
	b->stored_size = mv_ld64(in + 44);
	b->padded_size = mv_ld64(in + 52);
	b->comp = in[60];
	memcpy(b->content_hash, in + 61, 32);
	if (!mv_is_zero(in + 93, 8))
		return mv_fail(e, MV_E_INDEX, "blob reference has non-zero reserved bytes");
	if (b->comp > MV_COMP_ZSTD)
		return mv_fail(e, MV_E_INDEX, "blob reference names unknown compression %u",
			       b->comp);
	if (b->raw_size > MV_MAX_MESSAGE || b->padded_size > 2 * MV_MAX_MESSAGE)
		return mv_fail(e, MV_E_LIMIT, "blob reference declares %llu bytes",
			       (unsigned long long)b->raw_size);
	if (b->stored_size > b->padded_size ||
	    (b->comp == MV_COMP_NONE && b->stored_size != b->raw_size))
		return mv_fail(e, MV_E_INDEX, "blob reference sizes are inconsistent");
	want = (b->padded_size + ((uint64_t)1 << chunk_log) - 1) >> chunk_log;
	if (want == 0)
		want = 1;
	if (b->nchunks != want)
		return mv_fail(e, MV_E_INDEX,
			       "blob reference declares %u chunks for %llu bytes (expected %llu)",
			       b->nchunks, (unsigned long long)b->padded_size,
			       (unsigned long long)want);
	return MV_OK;
}

enum mv_err mv_entry_encode(struct mv_buf *out, const struct mv_entry *en)
{
	size_t dl = strlen(en->date);
	uint8_t br[MV_BLOBREF_LEN];

	if (mv_buf_add32(out, en->uid) || mv_buf_add32(out, en->flags) ||
	    mv_buf_addc(out, (uint8_t)dl) || mv_buf_add(out, en->date, dl) ||
	    mv_buf_add16(out, en->nkw))
		return MV_E_LIMIT;
	for (size_t k = 0; k < en->nkw; k++) {
		size_t kl = strlen(en->kw[k]);

		if (mv_buf_addc(out, (uint8_t)kl) || mv_buf_add(out, en->kw[k], kl))
			return MV_E_LIMIT;
	}
	mv_blobref_encode(br, &en->blob);
	if (mv_buf_add16(out, en->srcmeta_len) ||
	    mv_buf_add(out, en->srcmeta, en->srcmeta_len) ||
	    mv_buf_add(out, br, sizeof br))
		return MV_E_LIMIT;
	return MV_OK;
}

enum mv_err mv_entry_decode(struct mv_rd *r, struct mv_entry *en, unsigned chunk_log,
			    struct mv_error *e)
{
	const uint8_t *p;
	uint8_t dl;

	memset(en, 0, sizeof *en);
	en->uid = mv_rd_u32(r);
	en->flags = mv_rd_u32(r);
	dl = mv_rd_u8(r);
	if (r->bad)
		goto trunc;
	if (dl > MV_MAX_DATE_LEN)
		return mv_fail(e, MV_E_LIMIT, "INTERNALDATE of %u bytes", dl);
	if (en->flags & ~MV_FLAG_ALL)
		return mv_fail(e, MV_E_INDEX, "entry for UID %u has undefined flag bits",
			       en->uid);
	mv_rd_copy(r, en->date, dl);
	en->date[dl] = '\0';
	{
		uint16_t want = mv_rd_u16(r);

		/* en->nkw only ever counts keywords actually allocated, so a
		 * failure half-way leaves an entry mv_entry_release can free. */
		if (r->bad)
			goto trunc;
		if (want > MV_MAX_KEYWORDS)
			return mv_fail(e, MV_E_LIMIT, "entry for UID %u has %u keywords (limit %d)",
				       en->uid, want, MV_MAX_KEYWORDS);
		if (!want)
			goto keywords_done;
		en->kw = calloc(want, sizeof *en->kw);
		if (!en->kw)
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		for (uint16_t k = 0; k < want; k++) {
			uint8_t kl = mv_rd_u8(r);

			p = mv_rd_take(r, kl);
			if (!p)
				goto trunc;
			if (kl == 0 || memchr(p, '\0', kl))
				return mv_fail(e, MV_E_INDEX, "entry for UID %u has an empty or NUL keyword",
					       en->uid);
			en->kw[k] = malloc((size_t)kl + 1);
			if (!en->kw[k])
				return mv_fail(e, MV_E_NOMEM, "out of memory");
			memcpy(en->kw[k], p, kl);
			en->kw[k][kl] = '\0';
			en->nkw++;
		}
	}
keywords_done:
	en->srcmeta_len = mv_rd_u16(r);
	if (r->bad)
		goto trunc;
	if (en->srcmeta_len > MV_MAX_SRCMETA)
		return mv_fail(e, MV_E_LIMIT, "source metadata of %u bytes", en->srcmeta_len);
	p = mv_rd_take(r, en->srcmeta_len);
	if (!p)
		goto trunc;
	en->srcmeta = malloc((size_t)en->srcmeta_len + 1);
	if (!en->srcmeta)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	memcpy(en->srcmeta, p, en->srcmeta_len);
	en->srcmeta[en->srcmeta_len] = '\0';
	p = mv_rd_take(r, MV_BLOBREF_LEN);
	if (!p)
		goto trunc;
	return mv_blobref_decode(p, &en->blob, chunk_log, e);
trunc:
	return mv_fail(e, MV_E_INDEX, "index entry is truncated");
}

enum mv_err mv_entry_leaf_data(struct mv_buf *out, uint32_t commit,
			       const struct mv_folder *f, const struct mv_entry *en)
{
	mv_buf_reset(out);
	if (mv_buf_add(out, entry_label, sizeof entry_label - 1) ||
	    mv_buf_add32(out, commit) || mv_buf_add16(out, f->name_len) ||
	    mv_buf_add(out, f->name, f->name_len) || mv_buf_addc(out, f->delim) ||
	    mv_buf_add32(out, f->uidvalidity) || mv_entry_encode(out, en))
		return MV_E_NOMEM;
	return MV_OK;
}

enum mv_err mv_index_page_body(struct mv_buf *out, const struct mv_index *ix,
			       uint32_t fno, size_t from, size_t count)
{
	const struct mv_folder *f = &ix->f[fno];

	mv_buf_reset(out);
	if (mv_buf_add32(out, fno) || mv_buf_add32(out, (uint32_t)count))
		return MV_E_LIMIT;
	for (size_t i = from; i < from + count; i++)
		if (mv_entry_encode(out, &f->e[i]))
			return MV_E_LIMIT;
	return MV_OK;
}

enum mv_err mv_index_page_parse(struct mv_index *ix, const uint8_t *p, size_t n,
				uint32_t expect_fno, uint32_t expect_count,
				unsigned chunk_log, struct mv_error *e)
{
	struct mv_rd r;
	uint32_t fno, count, last_uid = 0;
	struct mv_folder *f;
	enum mv_err rc;

	mv_rd_init(&r, p, n);
	fno = mv_rd_u32(&r);
	count = mv_rd_u32(&r);
	if (r.bad)
		return mv_fail(e, MV_E_INDEX, "index page is truncated");
	if (fno != expect_fno || fno >= ix->nf)
		return mv_fail(e, MV_E_INDEX, "index page belongs to folder %u, expected %u",
			       fno, expect_fno);
	if (count == 0 || count > MV_PAGE_MAX_ENTRIES || count != expect_count)
		return mv_fail(e, MV_E_INDEX, "index page holds %u entries, expected %u",
			       count, expect_count);
	f = &ix->f[fno];
	if (f->n)
		last_uid = f->e[f->n - 1].uid;
	if (mv_folder_reserve(f, count))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (uint32_t i = 0; i < count; i++) {
		struct mv_entry *en = mv_folder_add_entry(f);

		if (!en)
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		if ((rc = mv_entry_decode(&r, en, chunk_log, e)) != MV_OK) {
			/* Drop the half-read entry so the index stays usable. */
			mv_entry_release(en);
			f->n--;
			return rc;
		}
		if ((f->n > 1 || i > 0) && en->uid <= last_uid)
			return mv_fail(e, MV_E_INDEX, "index page UIDs are not increasing at UID %u",
				       en->uid);
		last_uid = en->uid;
	}
	if (mv_rd_left(&r) != 0)
		return mv_fail(e, MV_E_INDEX, "index page has %zu bytes after its entries",
			       mv_rd_left(&r));
	return MV_OK;
}

enum mv_err mv_index_root_body(struct mv_buf *out, const struct mv_index *ix,
			       struct mv_pageref *const *pages, const size_t *npages)
{
	size_t sl = ix->source ? strlen(ix->source) : 0;
	size_t il = ix->info ? strlen(ix->info) : 0;

	mv_buf_reset(out);
	if (sl > 4096 || il > 65536)
		return MV_E_LIMIT;
	if (mv_buf_add32(out, ix->commit) || mv_buf_add16(out, (uint16_t)sl) ||
	    mv_buf_add(out, ix->source, sl) || mv_buf_add32(out, (uint32_t)il) ||
	    mv_buf_add(out, ix->info, il) || mv_buf_add32(out, (uint32_t)ix->nf))
		return MV_E_LIMIT;
	for (size_t i = 0; i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];

		if (mv_buf_add16(out, f->name_len) || mv_buf_add(out, f->name, f->name_len) ||
		    mv_buf_addc(out, f->delim) || mv_buf_addc(out, f->special) ||
		    mv_buf_add32(out, f->uidvalidity) || mv_buf_add32(out, f->uidnext) ||
		    mv_buf_add64(out, f->modseq) || mv_buf_add32(out, (uint32_t)f->n) ||
		    mv_buf_add32(out, (uint32_t)npages[i]))
			return MV_E_LIMIT;
		for (size_t j = 0; j < npages[i]; j++) {
			const struct mv_pageref *pr = &pages[i][j];

			if (mv_buf_add64(out, pr->seq) || mv_buf_add64(out, pr->off) ||
			    mv_buf_add32(out, pr->first_uid) || mv_buf_add32(out, pr->count))
				return MV_E_LIMIT;
		}
	}
	return MV_OK;
}

void mv_pagerefs_free(struct mv_pageref **pages, size_t *npages, size_t nf)
{
	if (pages)
		for (size_t i = 0; i < nf; i++)
			free(pages[i]);
	free(pages);
	free(npages);
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

enum mv_err mv_index_root_parse(struct mv_index *ix, const uint8_t *p, size_t n,
				struct mv_pageref ***pagesp, size_t **npagesp,
				struct mv_error *e)
{
	struct mv_rd r;
	uint32_t nf = 0, il;
	uint16_t sl;
	const uint8_t *q;
	struct mv_pageref **pages = NULL;
	size_t *npages = NULL;
	enum mv_err rc = MV_OK;

	mv_rd_init(&r, p, n);
	ix->commit = mv_rd_u32(&r);
	sl = mv_rd_u16(&r);
	if (sl > 4096 || !(q = mv_rd_take(&r, sl)))
		goto bad;
	if (memchr(q, '\0', sl) || !(ix->source = dup_bytes(q, sl)))
		goto bad;
	il = mv_rd_u32(&r);
	if (il > 65536 || !(q = mv_rd_take(&r, il)))
		goto bad;
	if (memchr(q, '\0', il) || !(ix->info = dup_bytes(q, il)))
		goto bad;
	nf = mv_rd_u32(&r);
	if (r.bad)
		goto bad;
	if (nf > MV_MAX_FOLDERS) {
		rc = mv_fail(e, MV_E_LIMIT, "index root declares %u folders (limit %d)", nf,
			     MV_MAX_FOLDERS);
		goto out;
	}
	/* Every folder needs at least 28 bytes: a cheap bound before allocating. */
	if ((uint64_t)nf * 28 > mv_rd_left(&r))
		goto bad;
	pages = calloc(nf ? nf : 1, sizeof *pages);
	npages = calloc(nf ? nf : 1, sizeof *npages);
	if (!pages || !npages) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < nf; i++) {
		uint16_t nl = mv_rd_u16(&r);
		uint32_t count, np;
		uint64_t total = 0;
		struct mv_folder *f;

		q = mv_rd_take(&r, nl);
		if (!q || nl == 0 || nl > MV_MAX_FOLDER_NAME || memchr(q, '\0', nl))
			goto bad;
		if (mv_index_folder(ix, (const char *)q, nl)) {
			rc = mv_fail(e, MV_E_INDEX, "index root lists a folder twice");
			goto out;
		}
		if (!(f = mv_index_add_folder(ix, (const char *)q, nl, 0))) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		f->delim = mv_rd_u8(&r);
		f->special = mv_rd_u8(&r);
		f->uidvalidity = mv_rd_u32(&r);
		f->uidnext = mv_rd_u32(&r);
		f->modseq = mv_rd_u64(&r);
		count = mv_rd_u32(&r);
		np = mv_rd_u32(&r);
		if (r.bad || np > 100000 || (uint64_t)np * 24 > mv_rd_left(&r))
			goto bad;
		if (count && !np)
			goto bad;
		pages[i] = calloc(np ? np : 1, sizeof *pages[i]);
		if (!pages[i]) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		npages[i] = np;
		for (uint32_t j = 0; j < np; j++) {
			pages[i][j].seq = mv_rd_u64(&r);
			pages[i][j].off = mv_rd_u64(&r);
			pages[i][j].first_uid = mv_rd_u32(&r);
			pages[i][j].count = mv_rd_u32(&r);
			if (pages[i][j].count == 0 || pages[i][j].count > MV_PAGE_MAX_ENTRIES)
				goto bad;
			total += pages[i][j].count;
		}
		if (total != count) {
			rc = mv_fail(e, MV_E_INDEX,
				     "folder %u declares %u messages but its pages hold %llu",
				     i + 1, count, (unsigned long long)total);
			goto out;
		}
	}
	if (r.bad || mv_rd_left(&r) != 0)
		goto bad;
	*pagesp = pages;
	*npagesp = npages;
	pages = NULL;
	npages = NULL;
	goto out;
bad:
	rc = mv_fail(e, MV_E_INDEX, "index root is malformed");
out:
	mv_pagerefs_free(pages, npages, nf);
	return rc;
}

uint64_t mv_index_count(const struct mv_index *ix)
{
	uint64_t n = 0;

	for (size_t i = 0; i < ix->nf; i++)
		n += ix->f[i].n;
	return n;
}

enum mv_err mv_index_entries_root(const struct mv_index *ix, mv_mhash root,
				  uint64_t *count, struct mv_error *e)
{
	struct mv_frontier fr;
	struct mv_buf leaf;
	mv_mhash h;

	mv_frontier_init(&fr);
	mv_buf_init(&leaf, 1u << 20);
	for (size_t i = 0; i < ix->nf; i++)
		for (size_t j = 0; j < ix->f[i].n; j++) {
			if (mv_entry_leaf_data(&leaf, ix->commit, &ix->f[i], &ix->f[i].e[j])) {
				mv_buf_release(&leaf);
				return mv_fail(e, MV_E_NOMEM, "out of memory");
			}
			mv_merkle_leaf_hash(h, leaf.data, leaf.len);
			mv_frontier_add(&fr, h);
		}
	mv_buf_release(&leaf);
	mv_frontier_root(&fr, root);
	*count = fr.size;
	return MV_OK;
}
