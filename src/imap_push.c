/* imap_push.c - restoring a version into an IMAP account; see imap_push.h. */
#include "imap_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_client.h"
#include "imap_push_int.h"
#include "imapdate.h"
#include "msgmeta.h"

#define RECONNECTS_DEFAULT 8

/* ---- one folder ---- */

/* 1 when an unused target message has this date. */
static int date_on_target(const struct mv_px *x, int64_t d)
{
	for (size_t k = 0; k < x->nh; k++)
		if (!x->h[k].used && x->h[k].date == d)
			return 1;
	return 0;
}

/*
 * Finds the version's messages that the target folder (p->s.h, listed)
 * holds by their bytes, and marks them found[i] = 3: first with their
 * exact size and bytes; then, for those left whose date an unused target
 * message has, as the server renders them (srvform.h: line ends, NUL),
 * reading such a message only then.  Candidates are those of the same
 * date and size, fetched (BODY.PEEK[]) and hashed.
 */
static enum mv_err find_by_bytes(struct push *p, uint8_t *found, struct mv_error *e)
{
	const struct mv_folder *f = p->f;
	struct mv_px *x = &p->s;
	enum mv_err rc;
	int more = 0;

	/* The exact prefilter: size and date. */
	for (size_t i = 0; i < f->n; i++) {
		int64_t d;
		int tz;

		if (found[i] || p->es[i].state == E_REFUSED ||
		    mv_imapdate_parse(f->e[i].date, strlen(f->e[i].date), &d, &tz) != 0)
			continue;
		for (size_t k = 0; k < x->nh; k++)
			if (!x->h[k].used && x->h[k].size == f->e[i].blob.raw_size &&
			    x->h[k].date == d)
				x->h[k].cand = 1;
	}
	if ((rc = mv_px_hash_candidates(x, 0, e)))
		return rc;
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];

		if (found[i] || p->es[i].state == E_REFUSED)
			continue;
		for (size_t k = 0; k < x->nh && !found[i]; k++)
			if (x->h[k].hashed && !x->h[k].used &&
			    x->h[k].size == en->blob.raw_size &&
			    memcmp(x->h[k].hash, en->blob.content_hash, 32) == 0) {
				found[i] = 3;
				x->h[k].used = 1;
			}
	}
	/* The renderings, of the messages left whose date is on the target:
	 * a version pulled from Maildir or mbox holds LF line ends, which
	 * the server stores as CRLF (another size, other bytes). */
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];
		int64_t d;
		int tz;

		if (found[i] || p->es[i].state == E_REFUSED ||
		    mv_imapdate_parse(en->date, strlen(en->date), &d, &tz) != 0 ||
		    !date_on_target(x, d))
			continue;
		if ((rc = mv_px_form(x, en, &p->forms[i], e)))
			return rc;
		if (!p->forms[i]->differs)
			continue;
		for (size_t k = 0; k < x->nh; k++)
			if (!x->h[k].used && x->h[k].date == d &&
			    mv_srvform_size(p->forms[i], x->h[k].size))
				x->h[k].cand = more = 1;
	}
	if (!more)
		return MV_OK;
	if ((rc = mv_px_hash_candidates(x, 0, e)))
		return rc;
	for (size_t i = 0; i < f->n; i++) {
		if (found[i] || !p->forms[i] || !p->forms[i]->differs)
			continue;
		for (size_t k = 0; k < x->nh && !found[i]; k++)
			if (x->h[k].hashed && !x->h[k].used &&
			    mv_srvform_match(p->forms[i], x->h[k].size, x->h[k].hash)) {
				found[i] = 3;
				x->h[k].used = 1;
			}
	}
	return MV_OK;
}

/*
 * Decides the fate of the version's messages from what the target folder
 * holds now (p->s.h, listed): present by push's memory of this run's
 * APPENDUIDs, by the record, or by their bytes; todo[] gets the others.
 */
static enum mv_err sort_out(struct push *p, const struct mv_entry **todo, size_t *ntodo,
			    struct mv_error *e)
{
	const struct mv_folder *f = p->f;
	struct mv_px *x = &p->s;
	/* found[i]: 1 this run's APPENDUID, 2 the record, 3 its bytes. */
	uint8_t *found = NULL;
	size_t stored = 0, lost = 0;
	enum mv_err rc;

	if (f->n && !(found = calloc(f->n, 1)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	/* What this run or an earlier one appended, and the target still
	 * holds under that UID, is present whatever its bytes now. */
	for (size_t i = 0; i < f->n; i++) {
		struct est *s = &p->es[i];
		struct mv_px_have *h;
		uint32_t uid;

		if (s->uid && s->uidvalidity == p->uidvalidity &&
		    (h = mv_px_find_have(x, s->uid)) && !h->used) {
			h->used = found[i] = 1;
			continue;
		}
		for (unsigned k = 0; p->st && (uid = mv_pushstate_find(p->st, p->tname,
					p->uidvalidity, f->e[i].blob.content_hash, k)); k++)
			if ((h = mv_px_find_have(x, uid)) && !h->used) {
				h->used = 1;
				found[i] = 2;
				break;
			}
	}
	if ((rc = find_by_bytes(p, found, e)))
		goto out;
	*ntodo = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];
		struct est *s = &p->es[i];

		if (s->state == E_REFUSED)
			continue;
		if (found[i] && s->state == E_TODO) {
			s->state = E_PRESENT;
			if (found[i] == 2)
				p->r->present_by_record++;
		} else if (found[i] && s->state == E_SENT) {
			/* Stored before the connection was lost. */
			stored++;
			s->state = E_APPENDED;
			p->progress = 1;
			if (s->dropped)
				mv_push_note_dropped(p, en, s, NULL);
		} else if (!found[i]) {
			if (s->state == E_SENT)
				lost++;
			else if (s->state != E_TODO && !p->s.o->dry_run)
				mv_px_note(x, "warning", "folder '%s' UID %u: no longer on the "
					   "target; appending it again", p->fr->source, en->uid);
			s->state = E_TODO;
			s->uid = 0;
			todo[(*ntodo)++] = en;
		}
	}
	if (stored || lost)
		mv_px_note(x, "reconnected", "folder '%s': the lost connection interrupted the "
			   "append of %zu message%s; the target had stored %zu of them, %zu %s "
			   "appended again", p->fr->source, stored + lost, stored + lost > 1 ? "s" : "",
			   stored, lost, lost == 1 ? "is" : "are");
out:
	free(found);
	return rc;
}

/* One look at the target folder (name bytes) and the appends it calls for;
 * again after a reconnection. */
static enum mv_err folder_pass(struct push *p, const char *tpath, const char *name,
			       struct mv_error *e)
{
	const struct mv_folder *f = p->f;
	const struct mv_entry **todo = NULL;
	size_t ntodo = 0;
	struct mv_px_sel sel = { 0, 0 };
	int is_new = 0;
	enum mv_err rc = MV_OK;

	if (!mv_px_find_tf(&p->s, name)) {
		is_new = 1;
		if (!p->fr->created)
			mv_px_note(&p->s, "create", "%s folder '%s'",
				   p->s.o->dry_run ? "would create" : "creating", tpath);
		p->fr->created = 1;
		if (!p->s.o->dry_run &&
		    (rc = mv_imapc_cmd(p->s.c, NULL, NULL, e, "CREATE %M", name))) {
			mv_error_prefix(e, "cannot create folder '%s'", tpath);
			return rc;
		}
	}
	if (f->special & MV_SU_NOSELECT || f->n == 0)
		return MV_OK;
	if (is_new && p->s.o->dry_run) {
		mv_px_forget_folder(&p->s);
	} else if ((rc = mv_px_examine(&p->s, name, 0, &sel, e))) {
		mv_error_prefix(e, "folder '%s'", tpath);
		return rc;
	}
	p->uidvalidity = sel.uidvalidity;
	p->tname = name;
	if (!(todo = calloc(f->n, sizeof *todo)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if ((rc = sort_out(p, todo, &ntodo, e)))
		goto out;
	if (p->s.o->dry_run) {
		for (size_t i = 0; i < ntodo; i++)
			est_of(p, todo[i])->state = E_APPENDED;
		goto out;
	}
	rc = mv_push_append_all(p, name, todo, ntodo, e);
out:
	free(todo);
	return rc;
}

/*
 * Connects again after the connection was lost (e holds why): waits 1 s,
 * 2 s, 4 s ... 30 s between attempts (MV_TEST_BACKOFF_MS in test builds),
 * at most o->max_reconnects attempts in a row without progress.
 */
static enum mv_err reconnect(struct push *p, struct mv_error *e)
{
	unsigned max = p->s.o->max_reconnects ? p->s.o->max_reconnects : RECONNECTS_DEFAULT;
	enum mv_err rc = MV_E_NET;

	if (p->progress || !p->wait) {
		p->tries = 0;
		p->wait = 1000;
		p->progress = 0;
	}
	mv_px_drop(&p->s);
	while (p->tries < max) {
		p->tries++;
		p->r->reconnects++;
		mv_px_note(&p->s, "reconnect", "%s; reconnecting in %u s (attempt %u of %u)",
			   e->msg, p->wait / 1000, p->tries, max);
		mv_imapc_backoff(p->wait);
		p->wait = p->wait < 16000 ? p->wait * 2 : 30000;
		mv_error_clear(e);
		if ((rc = mv_px_open(&p->s, e)) == MV_OK)
			return MV_OK;
		mv_px_drop(&p->s);
		if (rc != MV_E_NET)
			return rc;
	}
	mv_error_prefix(e, "the connection to the target was lost and %u attempts to "
			"reconnect failed", max);
	return rc;
}

/* Adds up the fate of the folder's messages in its report and the total. */
static void tally(struct push *p)
{
	struct mv_push_folder *fr = p->fr;

	for (size_t i = 0; i < p->f->n; i++) {
		const struct est *s = &p->es[i];

		if (s->state == E_PRESENT) {
			fr->present++;
		} else if (s->state == E_APPENDED) {
			fr->appended++;
			fr->bytes += p->f->e[i].blob.raw_size;
			fr->dropped_keywords += s->dropped;
		} else if (s->state == E_REFUSED) {
			fr->refused++;
		}
	}
	p->r->present += fr->present;
	p->r->appended += fr->appended;
	p->r->refused += fr->refused;
	p->r->dropped_keywords += fr->dropped_keywords;
}

static enum mv_err push_folder(struct push *p, const struct mv_folder *f, const char *src,
			       struct mv_error *e)
{
	struct mv_buf name;
	char *tpath = NULL;
	enum mv_err rc = MV_OK;

	mv_buf_init(&name, MV_MAX_FOLDER_NAME * 8);
	p->f = f;
	mv_push_kw_forget_all(p);
	if (!(tpath = mv_px_target_path(&p->s, f, src)) || !(p->fr->target = strdup(tpath)) ||
	    (f->n && (!(p->es = calloc(f->n, sizeof *p->es)) ||
		      !(p->forms = calloc(f->n, sizeof *p->forms))))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = mv_px_target_name(&p->s, tpath, &name, e)))
		goto out;
	for (;;) {
		rc = folder_pass(p, tpath, (const char *)name.data, e);
		if (rc != MV_E_NET)
			break;
		if ((rc = reconnect(p, e)))
			break;
	}
	if (rc == MV_OK)
		p->progress = 1;
	if (p->es)
		tally(p);
out:
	if (p->st) {
		struct mv_error e2;

		mv_error_clear(&e2);
		if (mv_pushstate_save(p->st, &e2) && rc == MV_OK)
			rc = mv_fail(e, e2.code, "%s", e2.msg);
	}
	free(p->es);
	p->es = NULL;
	mv_px_forms_free(p->forms, f->n);
	p->forms = NULL;
	p->tname = NULL;
	mv_push_kw_forget_all(p);
	free(tpath);
	mv_buf_release(&name);
	return rc;
}

/* ---- the account ---- */

/* Opens push's record (a new one when it does not open under this key). */
static enum mv_err open_state(struct push *p, struct mv_vault *v, const char *path,
			      struct mv_error *e)
{
	struct mv_error e2;

	mv_error_clear(&e2);
	if (mv_pushstate_open(&p->st, path, v->kr->fk, v->h.archive_id, &e2) == MV_OK)
		return MV_OK;
	if (e2.code != MV_E_DECRYPT)
		return mv_fail(e, e2.code, "%s", e2.msg);
	/* Unreadable: content alone decides, and a new record replaces it. */
	mv_px_note(&p->s, "warning", "%s; starting a new record", e2.msg);
	unlink(path);
	mv_error_clear(&e2);
	if (mv_pushstate_open(&p->st, path, v->kr->fk, v->h.archive_id, &e2))
		return mv_fail(e, e2.code, "%s", e2.msg);
	return MV_OK;
}

enum mv_err mv_push_imap(struct mv_vault *v, const struct mv_index *ix,
			 const struct mv_imap_push_opts *o,
			 struct mv_push_report *r, struct mv_error *e)
{
	struct push p;
	enum mv_err rc;

	memset(r, 0, sizeof *r);
	memset(&p, 0, sizeof p);
	p.skip_kw = -1;
	mv_buf_init(&p.msg, HOLD_MAX);
	if ((rc = mv_px_init(&p.s, v, o, e))) {
		mv_buf_release(&p.msg);
		return rc;
	}
	p.r = r;
	if (o->state_path && !o->dry_run && (rc = open_state(&p, v, o->state_path, e)))
		goto out;
	if ((rc = mv_px_open(&p.s, e)))
		goto out;
	r->multiappend = mv_imapc_has(p.s.c, "MULTIAPPEND");
	r->literal_plus = mv_imapc_has(p.s.c, "LITERAL+");
	r->binary = mv_imapc_has(p.s.c, "BINARY");
	for (size_t i = 0; rc == MV_OK && i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];
		char *src = mv_px_source(f, o, &rc, e);

		if (!src)
			continue;
		if (!(p.fr = mv_px_grow((void **)&r->f, &r->nf, sizeof *r->f))) {
			free(src);
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		p.fr->source = src;
		p.fr->messages = f->n;
		rc = push_folder(&p, f, src, e);
	}
out:
	mv_pushstate_free(p.st);
	mv_buf_release(&p.msg);
	mv_px_release(&p.s, rc);
	return rc;
}
