/* pull.c - local mailboxes into a version; see pull.h. */
#include "pull.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imapdate.h"
#include "maildir.h"
#include "msgmeta.h"
#include "utf7.h"

/* Messages up to this size are read whole, hashed, and skipped when their
 * content is already stored; larger ones are hashed in a first pass. */
#define SMALL_MAX (8u << 20)
#define IOBUF (256u << 10)

/* ---- content hash -> blob map (open addressing) ---- */

struct blobmap {
	struct mv_blobref *slot;
	size_t cap, n;
};

static size_t bm_pos(const struct blobmap *m, const uint8_t *h)
{
	uint64_t k;

	memcpy(&k, h, sizeof k);
	return (size_t)(k & (m->cap - 1));
}

static const struct mv_blobref *bm_get(const struct blobmap *m, const uint8_t *h)
{
	if (!m->cap)
		return NULL;
	for (size_t i = bm_pos(m, h);; i = (i + 1) & (m->cap - 1)) {
		if (m->slot[i].nchunks == 0)
			return NULL;
		if (memcmp(m->slot[i].content_hash, h, 32) == 0)
			return &m->slot[i];
	}
}

static int bm_put(struct blobmap *m, const struct mv_blobref *b)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct blobmap nm = { NULL, m->cap ? m->cap * 2 : 1024, 0 };

		nm.slot = calloc(nm.cap, sizeof *nm.slot);
		if (!nm.slot)
			return -1;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i].nchunks)
				bm_put(&nm, &m->slot[i]);
		free(m->slot);
		*m = nm;
	}
	if (bm_get(m, b->content_hash))
		return 0;
	for (size_t i = bm_pos(m, b->content_hash);; i = (i + 1) & (m->cap - 1))
		if (m->slot[i].nchunks == 0) {
			m->slot[i] = *b;
			m->n++;
			return 0;
		}
}

/* ---- the pull ---- */

struct pull {
	struct mv_vault *v;
	struct mv_writer *w;
	const struct mv_pull_opts *o;
	struct mv_pull_stats *st;
	struct mv_index prev;        /* previous version's index, if any */
	struct mv_index ix;          /* the version being built */
	struct blobmap map;
	uint8_t *buf;                /* SMALL_MAX bytes */
	time_t last_ckpt;
	uint64_t bytes_at_ckpt;
	char display[MV_MAX_FOLDER_NAME * 4 + 1];
};

static void progress(struct pull *p, const char *event)
{
	struct mv_progress pr = { p->display, p->st->messages, p->st->bytes, 0, event };

	if (p->o->progress)
		p->o->progress(p->o->progress_ctx, &pr);
}

static enum mv_err maybe_checkpoint(struct pull *p, struct mv_error *e)
{
	uint64_t every = p->o->checkpoint_bytes ? p->o->checkpoint_bytes : 64u << 20;
	unsigned secs = p->o->checkpoint_secs ? p->o->checkpoint_secs : 30;
	uint64_t written = mv_writer_bytes(p->w);
	enum mv_err rc;

	if (written - p->bytes_at_ckpt < every && time(NULL) - p->last_ckpt < (time_t)secs)
		return MV_OK;
	if (written == p->bytes_at_ckpt)
		return MV_OK;
	rc = mv_writer_commit(p->w, &p->ix, MV_COMMIT_PARTIAL, e);
	if (rc)
		return rc;
	p->st->checkpoints++;
	p->bytes_at_ckpt = mv_writer_bytes(p->w);
	p->last_ckpt = time(NULL);
	progress(p, "checkpoint");
	return MV_OK;
}

/* Reads exactly n bytes (or fails) from fd. */
static enum mv_err read_full(int fd, uint8_t *b, size_t n, const char *path,
			     struct mv_error *e)
{
	while (n) {
		ssize_t r = read(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mv_fail(e, MV_E_IO, "cannot read '%s': %s", path, strerror(errno));
		if (r == 0)
			return mv_fail(e, MV_E_IO, "'%s' changed size while being read", path);
		b += r;
		n -= (size_t)r;
	}
	return MV_OK;
}

/* Stores bytes held in memory, or reuses the blob that holds them. */
static enum mv_err store_buffer(struct pull *p, const uint8_t *b, size_t n,
				struct mv_blobref *out, struct mv_error *e)
{
	uint8_t h[32];
	const struct mv_blobref *have;
	enum mv_err rc;

	mv_vault_content_hash(p->v, b, n, h);
	if ((have = bm_get(&p->map, h))) {
		*out = *have;
		p->st->deduplicated++;
		return MV_OK;
	}
	if ((rc = mv_writer_blob_begin(p->w, n, p->o->compress, p->o->pad, e)) ||
	    (rc = mv_writer_blob_feed(p->w, b, n, e)) ||
	    (rc = mv_writer_blob_end(p->w, out, e)))
		return rc;
	if (bm_put(&p->map, out))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	p->st->stored_messages++;
	p->st->stored_bytes += n;
	return MV_OK;
}

/* A large file: one pass to hash, a second to store if new. */
static enum mv_err store_file_large(struct pull *p, int fd, uint64_t size,
				   const char *path, struct mv_blobref *out,
				   struct mv_error *e)
{
	struct mv_blake2b *hs = mv_vault_content_hasher(p->v);
	uint8_t h[32];
	const struct mv_blobref *have;
	enum mv_err rc = MV_OK;
	uint64_t left;

	if (!hs)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (left = size; left; ) {
		size_t n = left < IOBUF ? (size_t)left : IOBUF;

		if ((rc = read_full(fd, p->buf, n, path, e)))
			goto out;
		mv_blake2b_update(hs, p->buf, n);
		left -= n;
	}
	mv_blake2b_final(hs, h);
	if ((have = bm_get(&p->map, h))) {
		*out = *have;
		p->st->deduplicated++;
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot rewind '%s': %s", path, strerror(errno));
		goto out;
	}
	if ((rc = mv_writer_blob_begin(p->w, size, p->o->compress, p->o->pad, e)))
		goto out;
	for (left = size; left; ) {
		size_t n = left < IOBUF ? (size_t)left : IOBUF;

		if ((rc = read_full(fd, p->buf, n, path, e)) ||
		    (rc = mv_writer_blob_feed(p->w, p->buf, n, e)))
			goto out;
		left -= n;
	}
	if ((rc = mv_writer_blob_end(p->w, out, e)))
		goto out;
	if (memcmp(out->content_hash, h, 32) != 0) {
		rc = mv_fail(e, MV_E_IO, "'%s' changed while being read", path);
		goto out;
	}
	if (bm_put(&p->map, out)) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	p->st->stored_messages++;
	p->st->stored_bytes += size;
out:
	mv_blake2b_free(hs);
	return rc;
}

static uint32_t fresh_uidvalidity(void)
{
	uint32_t u = (uint32_t)mv_now();

	return u ? u : 1;
}

/* Starts folder name in the new index, carrying UIDVALIDITY over. */
static struct mv_folder *begin_folder(struct pull *p, const char *name, char delim,
				      struct mv_folder **prevf, struct mv_error *e)
{
	struct mv_folder *f = mv_index_add_folder(&p->ix, name, strlen(name), (uint8_t)delim);
	struct mv_buf d;

	if (!f) {
		mv_fail(e, MV_E_LIMIT, "cannot add folder '%s'", name);
		return NULL;
	}
	*prevf = mv_index_folder(&p->prev, name, strlen(name));
	f->uidvalidity = *prevf ? (*prevf)->uidvalidity : fresh_uidvalidity();
	f->uidnext = *prevf ? (*prevf)->uidnext : 1;
	if (f->uidnext == 0)
		f->uidnext = 1;
	mv_buf_init(&d, sizeof p->display - 1);
	if (mv_utf7_decode(&d, name, strlen(name)) == MV_OK && mv_buf_cstr(&d) == MV_OK)
		snprintf(p->display, sizeof p->display, "%s", (char *)d.data);
	else
		snprintf(p->display, sizeof p->display, "%s", name);
	mv_buf_release(&d);
	p->st->folders++;
	return f;
}

static enum mv_err set_keywords(struct mv_entry *en, char **kw, size_t n,
				struct mv_error *e)
{
	if (n > MV_MAX_KEYWORDS)
		n = MV_MAX_KEYWORDS;
	if (!n)
		return MV_OK;
	en->kw = calloc(n, sizeof *en->kw);
	if (!en->kw)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(kw[i]);

		if (l == 0 || l > MV_MAX_KEYWORD_LEN)
			continue;
		if (!(en->kw[en->nkw] = strdup(kw[i])))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		en->nkw++;
	}
	return MV_OK;
}

static enum mv_err set_srcmeta(struct mv_entry *en, const char *s, size_t n,
			       struct mv_error *e)
{
	if (n > MV_MAX_SRCMETA)
		n = MV_MAX_SRCMETA;
	en->srcmeta = malloc(n + 1);
	if (!en->srcmeta)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	memcpy(en->srcmeta, s, n);
	en->srcmeta[n] = '\0';
	en->srcmeta_len = (uint16_t)n;
	return MV_OK;
}

/* Maildir: UIDs stay with unique names from one pull to the next. */
static uint32_t maildir_uid(struct mv_folder *prevf, struct mv_folder *f, const char *base)
{
	if (prevf)
		for (size_t i = 0; i < prevf->n; i++)
			if (strcmp(prevf->e[i].srcmeta, base) == 0)
				return prevf->e[i].uid;
	return f->uidnext++;
}

static enum mv_err pull_maildir(struct pull *p, const char *root, struct mv_error *e)
{
	struct mv_maildir_folder *fl = NULL;
	size_t nf = 0;
	enum mv_err rc;

	if ((rc = mv_maildir_list(root, &fl, &nf, e)))
		return rc;
	for (size_t i = 0; i < nf && rc == MV_OK; i++) {
		struct mv_maildir_msg *ms = NULL;
		size_t nm = 0;
		struct mv_folder *prevf, *f;

		if ((rc = mv_maildir_scan(&fl[i], &ms, &nm, e)))
			break;
		f = begin_folder(p, fl[i].name, '.', &prevf, e);
		if (!f)
			rc = e->code;
		/* Unique names already known keep their UIDs; the uidnext
		 * counter must stay above every UID already handed out. */
		for (size_t j = 0; rc == MV_OK && j < nm; j++) {
			struct mv_maildir_msg *m = &ms[j];
			struct mv_entry *en;
			int fd;
			struct stat sb;

			fd = open(m->path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				rc = mv_fail(e, MV_E_IO, "cannot open '%s': %s", m->path,
					     strerror(errno));
				break;
			}
			if (fstat(fd, &sb) != 0) {
				rc = mv_fail(e, MV_E_IO, "cannot stat '%s': %s", m->path,
					     strerror(errno));
				close(fd);
				break;
			}
			en = mv_folder_add_entry(f);
			if (!en) {
				close(fd);
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				break;
			}
			en->uid = maildir_uid(prevf, f, m->base);
			en->flags = m->flags & MV_FLAG_ALL;
			mv_imapdate_format(en->date, (int64_t)sb.st_mtime, 0);
			if ((rc = set_keywords(en, m->keywords, m->nkeywords, e)) ||
			    (rc = set_srcmeta(en, m->base, strlen(m->base), e))) {
				close(fd);
				break;
			}
			if ((uint64_t)sb.st_size <= SMALL_MAX) {
				rc = read_full(fd, p->buf, (size_t)sb.st_size, m->path, e);
				if (rc == MV_OK)
					rc = store_buffer(p, p->buf, (size_t)sb.st_size, &en->blob, e);
			} else {
				rc = store_file_large(p, fd, (uint64_t)sb.st_size, m->path,
						      &en->blob, e);
			}
			close(fd);
			if (rc)
				break;
			p->st->messages++;
			p->st->bytes += (uint64_t)sb.st_size;
			if (en->uid >= f->uidnext)
				f->uidnext = en->uid + 1;
			progress(p, NULL);
			rc = maybe_checkpoint(p, e);
		}
		mv_maildir_msgs_free(ms, nm);
	}
	mv_maildir_folders_free(fl, nf);
	return rc;
}

/* mbox: UIDs follow content: the k-th copy of some bytes keeps the UID the
 * k-th copy had before. */
static uint32_t mbox_uid(struct mv_folder *prevf, struct mv_folder *f,
			 const struct mv_blobref *b, uint8_t *used)
{
	if (prevf)
		for (size_t i = 0; i < prevf->n; i++)
			if (!used[i] &&
			    memcmp(prevf->e[i].blob.content_hash, b->content_hash, 32) == 0) {
				used[i] = 1;
				return prevf->e[i].uid;
			}
	return f->uidnext++;
}

static enum mv_err pull_mbox_file(struct pull *p, const char *path, const char *folder,
				  struct mv_error *e)
{
	struct mv_mbox *mb = NULL;
	struct mv_folder *prevf, *f;
	uint8_t *used = NULL;
	enum mv_err rc;
	struct mv_entry *pending = NULL;
	size_t npending = 0;

	if ((rc = mv_mbox_open(&mb, path, p->o->mbox_format, e)))
		return rc;
	f = begin_folder(p, folder, '/', &prevf, e);
	if (!f) {
		rc = e->code;
		goto out;
	}
	if (prevf && !(used = calloc(prevf->n + 1, 1))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		int has = 0;
		const char *from;
		size_t from_len, len = 0, got;
		uint64_t off;
		int64_t when = 0;
		struct mv_entry *en;
		uint32_t flags = 0;
		char **kw = NULL;
		size_t nkw = 0;
		int big = 0;

		if ((rc = mv_mbox_next(mb, &has, &from, &from_len, &off, e)) || !has)
			break;
		en = mv_folder_add_entry(f);
		if (!en) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		if ((rc = set_srcmeta(en, from, from_len, e)))
			break;
		if (mv_mbox_from_date(from, from_len, &when) != 0)
			when = 0;
		mv_imapdate_format(en->date, when, 0);
		/* Read the message whole while it fits. */
		for (;;) {
			if (len + 65536 > SMALL_MAX) {
				big = 1;
				break;
			}
			if ((rc = mv_mbox_read(mb, p->buf + len, 65536, &got, e)))
				break;
			if (!got)
				break;
			len += got;
		}
		if (rc)
			break;
		if (!big) {
			/* Flags come from the header block (Status, X-Status,
			 * X-Keywords), which stay in the message bytes. */
			const uint8_t *hdr_end = NULL;

			for (size_t k = 0; k + 1 < len; k++)
				if (p->buf[k] == '\n' && (p->buf[k + 1] == '\n' ||
				    (p->buf[k + 1] == '\r' && k + 2 < len && p->buf[k + 2] == '\n'))) {
					hdr_end = p->buf + k + 1;
					break;
				}
			mv_mail_header_flags(p->buf, hdr_end ? (size_t)(hdr_end - p->buf) : len,
					     &flags, &kw, &nkw);
			rc = store_buffer(p, p->buf, len, &en->blob, e);
		} else {
			/* Too big to hold: measure and hash, then rewind and store. */
			struct mv_blake2b *hs = mv_vault_content_hasher(p->v);
			uint8_t h[32];
			uint64_t total = len;
			const struct mv_blobref *have;

			if (!hs) {
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				break;
			}
			mv_mail_header_flags(p->buf, len < 65536 ? len : 65536, &flags, &kw, &nkw);
			mv_blake2b_update(hs, p->buf, len);
			while ((rc = mv_mbox_read(mb, p->buf, IOBUF, &got, e)) == MV_OK && got) {
				mv_blake2b_update(hs, p->buf, got);
				total += got;
			}
			mv_blake2b_final(hs, h);
			mv_blake2b_free(hs);
			if (rc)
				break;
			if ((have = bm_get(&p->map, h))) {
				en->blob = *have;
				p->st->deduplicated++;
			} else {
				rc = mv_mbox_rewind(mb, e);
				if (rc == MV_OK)
					rc = mv_writer_blob_begin(p->w, total, p->o->compress, p->o->pad, e);
				while (rc == MV_OK && (rc = mv_mbox_read(mb, p->buf, IOBUF, &got, e)) == MV_OK && got)
					rc = mv_writer_blob_feed(p->w, p->buf, got, e);
				if (rc == MV_OK)
					rc = mv_writer_blob_end(p->w, &en->blob, e);
				if (rc == MV_OK && bm_put(&p->map, &en->blob))
					rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				p->st->stored_messages++;
				p->st->stored_bytes += total;
			}
			len = (size_t)total;
		}
		en->flags = flags & MV_FLAG_ALL;
		if (rc == MV_OK)
			rc = set_keywords(en, kw, nkw, e);
		for (size_t k = 0; k < nkw; k++)
			free(kw[k]);
		free(kw);
		if (rc)
			break;
		en->uid = mbox_uid(prevf, f, &en->blob, used);
		p->st->messages++;
		p->st->bytes += len;
		progress(p, NULL);
		if ((rc = maybe_checkpoint(p, e)))
			break;
	}
	if (rc == MV_OK)
		for (size_t i = 0; i < f->n; i++)
			if (f->e[i].uid >= f->uidnext)
				f->uidnext = f->e[i].uid + 1;
	(void)pending;
	(void)npending;
out:
	if (rc)
		mv_error_prefix(e, "mbox '%s'", path);
	free(used);
	mv_mbox_free(mb);
	return rc;
}

static enum mv_err pull_mbox(struct pull *p, const char *path, struct mv_error *e)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return mv_fail(e, errno == ENOENT ? MV_E_NOTFOUND : MV_E_IO,
			       "cannot open '%s': %s", path, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return pull_mbox_file(p, path, "INBOX", e);
	return mv_fail(e, MV_E_USAGE, "'%s' is a directory; give one mbox file", path);
}

enum mv_err mv_pull_local(struct mv_vault *v, struct mv_writer *w,
			  const struct mv_pull_opts *o, struct mv_pull_stats *st,
			  struct mv_error *e)
{
	struct pull p;
	enum mv_err rc = MV_OK;

	memset(&p, 0, sizeof p);
	memset(st, 0, sizeof *st);
	p.v = v;
	p.w = w;
	p.o = o;
	p.st = st;
	p.last_ckpt = time(NULL);
	mv_index_init(&p.prev);
	mv_index_init(&p.ix);
	p.buf = malloc(SMALL_MAX);
	if (!p.buf) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (v->has_commit) {
		rc = mv_vault_load_index(v, &v->last, NULL, &p.prev, e);
		if (rc)
			goto out;
		for (size_t i = 0; i < p.prev.nf; i++)
			for (size_t j = 0; j < p.prev.f[i].n; j++)
				if (bm_put(&p.map, &p.prev.f[i].e[j].blob)) {
					rc = mv_fail(e, MV_E_NOMEM, "out of memory");
					goto out;
				}
	}
	p.ix.source = strdup(o->source);
	p.ix.info = strdup("");
	if (!p.ix.source || !p.ix.info) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (strncmp(o->source, "maildir:", 8) == 0)
		rc = pull_maildir(&p, o->source + 8, e);
	else if (strncmp(o->source, "mbox:", 5) == 0)
		rc = pull_mbox(&p, o->source + 5, e);
	else
		rc = mv_fail(e, MV_E_USAGE, "unknown source '%s'", o->source);
	if (rc)
		goto out;
	rc = mv_writer_commit(w, &p.ix, MV_COMMIT_COMPLETE, e);
	if (rc == MV_OK)
		st->commit = v->last.number;
out:
	mv_index_release(&p.prev);
	mv_index_release(&p.ix);
	free(p.map.slot);
	free(p.buf);
	return rc;
}
