/* imap_push.c - restoring a version into an IMAP account; see imap_push.h. */
#include "imap_push.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "imap_client.h"
#include "imap_target_int.h"
#include "imapdate.h"
#include "msgmeta.h"
#include "pushstate.h"

#define BATCH_DEFAULT 50
/* Messages up to this size are decrypted into memory once; larger ones
 * are decrypted twice (a scan for NUL, then the send), never held. */
#define HOLD_MAX (8u << 20)
/* Bytes of one MULTIAPPEND command at most. */
#define BATCH_BYTES (16u << 20)
#define RECONNECTS_DEFAULT 8
/* A refused message with at most this many keywords is tried again
 * without each of them in turn (to keep the others); with more, without
 * all of them at once. */
#define KW_SEARCH_MAX 8
/* Keywords a folder may be found to refuse; past that, messages that
 * carry others go without all their keywords. */
#define BADKW_MAX 64

/*
 * What this run did with each message of the folder in progress.  It is
 * kept across reconnections, so that a message is appended, counted and
 * reported once: a message sent in a command whose answer the lost
 * connection took (E_SENT) counts as appended only when the target then
 * holds it (the presence check decides, never a blind append).
 */
enum { E_TODO, E_PRESENT, E_SENT, E_APPENDED, E_REFUSED };

struct est {
	uint8_t state;
	uint8_t bare;                  /* sent without any keyword */
	uint16_t dropped;              /* keywords it was sent without */
	int32_t skip;                  /* the keyword (index) tried without, or -1 */
	uint32_t uid;                  /* on the target (APPENDUID), or 0 */
	uint32_t uidvalidity;          /* of that UID */
};

/* A keyword the target folder refused, with the server's words. */
struct badkw {
	char *kw;
	char *why;
};

struct push {
	struct mv_px s;                /* the session (imap_target_int.h) */
	struct mv_imap_push_report *r;
	struct mv_imap_push_folder *fr;
	const struct mv_folder *f;     /* the version folder in progress */
	struct est *es;                /* f->n: its messages' fate */
	struct badkw bad[BADKW_MAX];   /* what its target refused */
	size_t nbad;

	struct mv_pushstate *st;       /* NULL: no record */
	uint32_t uidvalidity;          /* of the target folder */
	const char *tname;             /* its name bytes */
	struct mv_buf msg;             /* a held message */
	int has_nul;                   /* NUL, bare CR or bare LF: binary */
	uint8_t last_byte;

	const char *bare_why;          /* why en goes without its keywords */
	int32_t skip_kw;               /* the keyword (index) tried without, or -1 */
	unsigned tries;                /* reconnections since the last progress */
	uint32_t wait;                 /* the next backoff, ms */
	int progress;                  /* appended something since then */
};

void mv_imap_push_report_release(struct mv_imap_push_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nf; i++) {
		free(r->f[i].source);
		free(r->f[i].target);
	}
	free(r->f);
	r->f = NULL;
	r->nf = 0;
}

/* ---- keywords ---- */

/* 1 if k is an atom (RFC 3501 flag-keyword): only those can be sent. */
static int kw_atom(const char *k)
{
	if (!k[0])
		return 0;
	for (const char *q = k; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f ||
		    strchr("(){%*\"\\]", *q))
			return 0;
	return 1;
}

/* 1 if keyword k of en is already said by a system flag: Maildir's P
 * goes as $Forwarded. */
static int kw_redundant(const struct mv_entry *en, const char *k)
{
	return strcasecmp(k, "$Forwarded") == 0 && (en->flags & MV_FLAG_PASSED);
}

static const struct badkw *kw_refused(const struct push *p, const char *k)
{
	for (size_t i = 0; i < p->nbad; i++)
		if (strcasecmp(p->bad[i].kw, k) == 0)
			return &p->bad[i];
	return NULL;
}

/* Notes k as refused by the folder (why: the server's answer); -1 when
 * out of memory or the table is full. */
static int kw_learn(struct push *p, const char *k, const char *why)
{
	struct badkw *b = &p->bad[p->nbad];

	if (p->nbad >= BADKW_MAX)
		return -1;
	b->kw = strdup(k);
	b->why = strdup(why);
	if (!b->kw || !b->why) {
		free(b->kw);
		free(b->why);
		return -1;
	}
	p->nbad++;
	return 0;
}

static void kw_forget_last(struct push *p)
{
	if (!p->nbad)
		return;
	p->nbad--;
	free(p->bad[p->nbad].kw);
	free(p->bad[p->nbad].why);
}

static void kw_forget_all(struct push *p)
{
	while (p->nbad)
		kw_forget_last(p);
}

/* A keyword for a report: printable, at most 60 bytes shown. */
static void kw_show(char out[96], const char *k)
{
	size_t n = strlen(k), i;

	for (i = 0; i < n && i < 60; i++)
		out[i] = k[i] > 0x20 && k[i] < 0x7f ? k[i] : '?';
	if (n > 60)
		snprintf(out + i, 96 - i, "... (%zu bytes)", n);
	else
		out[i] = '\0';
}

/* Reports each keyword en went without.  why: the server's answer to the
 * attempt with them, when it is known. */
static void note_dropped(struct push *p, const struct mv_entry *en, const struct est *s,
			 const char *why)
{
	for (size_t i = 0; i < en->nkw; i++) {
		const char *k = en->kw[i];
		const struct badkw *b;
		char show[96];

		if (kw_redundant(en, k))
			continue;
		kw_show(show, k);
		if (!kw_atom(k))
			mv_px_note(&p->s, "dropped", "folder '%s' UID %u: appended without "
				   "keyword '%s': IMAP cannot carry it (not an atom)",
				   p->fr->source, en->uid, show);
		else if ((b = kw_refused(p, k)))
			mv_px_note(&p->s, "dropped", "folder '%s' UID %u: appended without "
				   "keyword '%s', which the target refuses (%s)",
				   p->fr->source, en->uid, show, b->why);
		else if ((int32_t)i == s->skip)
			mv_px_note(&p->s, "dropped", "folder '%s' UID %u: appended without "
				   "keyword '%s': the target refused the message with it",
				   p->fr->source, en->uid, show);
		else if (s->bare)
			mv_px_note(&p->s, "dropped", "folder '%s' UID %u: appended without "
				   "keyword '%s': the target refused the message with its "
				   "keywords (%s)", p->fr->source, en->uid, show,
				   why ? why : "before the connection was lost");
	}
}

/* The flag list of en (without keywords when bare, else without those
 * that cannot go or that the folder refuses); *dropped: how many of its
 * keywords it leaves out. */
static enum mv_err flag_list(struct push *p, const struct mv_entry *en, int bare,
			     struct mv_buf *b, uint16_t *dropped)
{
	static const struct { uint32_t bit; const char *n; } sys[] = {
		{ MV_FLAG_SEEN, "\\Seen" }, { MV_FLAG_ANSWERED, "\\Answered" },
		{ MV_FLAG_FLAGGED, "\\Flagged" }, { MV_FLAG_DELETED, "\\Deleted" },
		{ MV_FLAG_DRAFT, "\\Draft" },
	};
	int first = 1;

	*dropped = 0;
	mv_buf_reset(b);
	if (mv_buf_addc(b, '('))
		return MV_E_NOMEM;
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (en->flags & sys[i].bit) {
			if ((!first && mv_buf_addc(b, ' ')) || mv_buf_addstr(b, sys[i].n))
				return MV_E_NOMEM;
			first = 0;
		}
	/* Maildir's P (passed) is IMAP's $Forwarded. */
	if (en->flags & MV_FLAG_PASSED) {
		if ((!first && mv_buf_addc(b, ' ')) || mv_buf_addstr(b, "$Forwarded"))
			return MV_E_NOMEM;
		first = 0;
	}
	for (size_t i = 0; i < en->nkw; i++) {
		const char *k = en->kw[i];

		if (kw_redundant(en, k))
			continue;
		if (bare || !kw_atom(k) || kw_refused(p, k)) {
			(*dropped)++;
			continue;
		}
		if ((!first && mv_buf_addc(b, ' ')) || mv_buf_addstr(b, k))
			return MV_E_NOMEM;
		first = 0;
	}
	if (mv_buf_addc(b, ')') || mv_buf_cstr(b))
		return MV_E_NOMEM;
	return MV_OK;
}

/* ---- appending ---- */

/* Notes bytes a text literal may not carry unchanged: NUL, and CR or LF
 * outside a CRLF pair (servers normalise line ends of text literals;
 * literal8 bytes are kept as they are). */
static void scan_bytes(struct push *p, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n && !p->has_nul; i++) {
		uint8_t c = b[i];

		if (c == 0)
			p->has_nul = 1;
		else if (c == '\n' && p->last_byte != '\r')
			p->has_nul = 1;
		else if (p->last_byte == '\r' && c != '\n')
			p->has_nul = 1;
		p->last_byte = c;
	}
}

static enum mv_err hold_out(void *ctx, const uint8_t *b, size_t n, struct mv_error *e)
{
	struct push *p = ctx;

	scan_bytes(p, b, n);
	if (mv_buf_add(&p->msg, b, n))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}

static enum mv_err scan_out(void *ctx, const uint8_t *b, size_t n, struct mv_error *e)
{
	struct push *p = ctx;

	(void)e;
	scan_bytes(p, b, n);
	return MV_OK;
}

static enum mv_err send_out(void *ctx, const uint8_t *b, size_t n, struct mv_error *e)
{
	struct push *p = ctx;

	return mv_imapc_write(p->s.c, b, n, e);
}

static struct est *est_of(struct push *p, const struct mv_entry *en)
{
	return &p->es[en - p->f->e];
}

/* Sends one message's "(flags) "date" {n}" part and its bytes. */
static enum mv_err send_message(struct push *p, const struct mv_entry *en, int bare,
				int plus, const char *tag, struct mv_error *e)
{
	struct mv_buf fl;
	struct est *s = est_of(p, en);
	enum mv_err rc;
	uint64_t n = en->blob.raw_size;
	int held = n <= HOLD_MAX;
	int lit8;

	mv_buf_init(&fl, 1u << 16);
	p->has_nul = 0;
	p->last_byte = 0;
	mv_buf_reset(&p->msg);
	if (held)
		rc = mv_vault_read_blob(p->s.v, &en->blob, hold_out, p, e);
	else
		rc = mv_vault_read_blob(p->s.v, &en->blob, scan_out, p, e);
	if (rc)
		goto out;
	if (flag_list(p, en, bare, &fl, &s->dropped)) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	s->bare = (uint8_t)bare;
	s->skip = p->skip_kw;
	s->state = E_SENT;
	lit8 = p->has_nul && mv_imapc_has(p->s.c, "BINARY");
	if (p->has_nul && !lit8)
		mv_px_note(&p->s, "warning", "folder '%s' UID %u holds NUL bytes or bare CR/LF "
			   "but the target offers no BINARY: it may refuse or alter them",
			   p->fr->source, en->uid);
	rc = mv_imapc_more(p->s.c, 0, e, " %s%s%s%s %s{%llu%s}", (const char *)fl.data,
			   en->date[0] ? " \"" : "", en->date, en->date[0] ? "\"" : "",
			   lit8 ? "~" : "", (unsigned long long)n, plus ? "+" : "");
	if (rc == MV_OK && (rc = mv_imapc_more(p->s.c, 1, e, "")) == MV_OK && !plus)
		rc = mv_imapc_wait_continue(p->s.c, tag, e);
	if (rc)
		goto out;
	if (held)
		rc = mv_imapc_write(p->s.c, p->msg.data, p->msg.len, e);
	else
		rc = mv_vault_read_blob(p->s.v, &en->blob, send_out, p, e);
out:
	mv_buf_release(&fl);
	return rc;
}

/* Keeps the UIDs of an APPENDUID answer ("UIDVALIDITY set") for the
 * messages of the command, in order: in memory (a reconnection finds them
 * by UID) and in the record. */
static enum mv_err record_uids(struct push *p, const struct mv_imap_resp *r,
			       const struct mv_entry **list, size_t n, struct mv_error *e)
{
	const char *s;
	uint32_t lo, hi;
	size_t i = 0;
	unsigned long long uv;
	char *end;

	if (!r || strcmp(r->code, "APPENDUID") != 0 || !r->code_arg)
		return MV_OK;
	uv = strtoull(r->code_arg, &end, 10);
	if (end == r->code_arg || *end != ' ' || uv == 0 || uv > UINT32_MAX)
		return MV_OK;
	s = end + 1;
	while (i < n && mv_imap_set_next(&s, &lo, &hi))
		for (uint64_t u = lo; u <= hi && i < n; u++, i++) {
			struct est *es = est_of(p, list[i]);
			enum mv_err rc;

			es->uid = (uint32_t)u;
			es->uidvalidity = (uint32_t)uv;
			if (p->st && (rc = mv_pushstate_add(p->st, p->tname, (uint32_t)uv,
							    (uint32_t)u, list[i]->blob.content_hash,
							    e)))
				return rc;
		}
	return MV_OK;
}

/* 1 if the server's answer blames the message itself, not its keywords
 * (quota, size): no use trying again without them. */
static int blames_message(const char *code)
{
	return strcmp(code, "OVERQUOTA") == 0 || strcmp(code, "LIMIT") == 0 ||
	       strcmp(code, "TOOBIG") == 0;
}

/*
 * APPENDs entries list[0..n) to mailbox in one command (MULTIAPPEND when
 * n > 1).  *refused: the server answered NO/BAD (its words in why; *blame
 * set when they name the message, not its keywords); nothing of the
 * command went in.  Other errors are returned; after MV_E_NET the
 * messages stay E_SENT (stored or not: the next look at the target says).
 */
static enum mv_err append(struct push *p, const char *mailbox, const struct mv_entry **list,
			  size_t n, int bare, int *refused, int *blame, char *why,
			  size_t whycap, struct mv_error *e)
{
	char tag[16];
	int plus = mv_imapc_has(p->s.c, "LITERAL+");
	const struct mv_imap_resp *resp = NULL;
	enum mv_err rc;

	*refused = *blame = 0;
	rc = mv_imapc_start(p->s.c, tag, e, "APPEND %M", mailbox);
	for (size_t i = 0; rc == MV_OK && i < n; i++)
		rc = send_message(p, list[i], bare, plus, tag, e);
	if (rc == MV_OK)
		rc = mv_imapc_more(p->s.c, 1, e, "");
	if (rc == MV_OK)
		rc = mv_imapc_wait(p->s.c, tag, NULL, NULL, NULL, &resp, e);
	else
		resp = NULL;   /* a synchronising literal was refused */
	if (rc == MV_E_PARSE) {
		snprintf(why, whycap, "%s", e->msg);
		*blame = resp && blames_message(resp->code);
		mv_error_clear(e);
		*refused = 1;
		for (size_t i = 0; i < n; i++)
			est_of(p, list[i])->state = E_TODO;
		return MV_OK;
	}
	if (rc)
		return rc;
	p->progress = 1;
	for (size_t i = 0; i < n; i++) {
		struct est *s = est_of(p, list[i]);

		s->state = E_APPENDED;
		if (s->dropped)
			note_dropped(p, list[i], s, p->bare_why);
	}
	return record_uids(p, resp, list, n, e);
}

/* Marks en refused and says so. */
static void refuse(struct push *p, const struct mv_entry *en, const char *why)
{
	est_of(p, en)->state = E_REFUSED;
	mv_px_note(&p->s, "refused", "folder '%s' UID %u (%llu bytes): %s", p->fr->source,
		   en->uid, (unsigned long long)en->blob.raw_size, why);
}

/*
 * One message alone.  Refused, and not for its size or the quota: again
 * without each of its keywords in turn (a success teaches the folder's
 * refused keyword, which later messages then go without), then without
 * all of them; refused still, it is reported.
 */
static enum mv_err append_one(struct push *p, const char *mailbox, const struct mv_entry *en,
			      struct mv_error *e)
{
	char why[sizeof(((struct mv_error *)0)->msg)], why2[sizeof why];
	int refused, blame;
	size_t k = 0, tried = 0;
	enum mv_err rc = append(p, mailbox, &en, 1, 0, &refused, &blame, why, sizeof why, e);

	if (rc || !refused)
		return rc;
	for (size_t i = 0; i < en->nkw; i++)
		k += kw_atom(en->kw[i]) && !kw_redundant(en, en->kw[i]) &&
		     !kw_refused(p, en->kw[i]);
	if (blame || k == 0) {
		refuse(p, en, why);
		return MV_OK;
	}
	for (size_t i = 0; k <= KW_SEARCH_MAX && i < en->nkw; i++) {
		const char *kw = en->kw[i];

		if (!kw_atom(kw) || kw_redundant(en, kw) || kw_refused(p, kw))
			continue;
		if (kw_learn(p, kw, why))
			break;
		tried++;
		p->skip_kw = (int32_t)i;
		rc = append(p, mailbox, &en, 1, 0, &refused, &blame, why2, sizeof why2, e);
		p->skip_kw = -1;
		if (rc == MV_OK && !refused)
			return MV_OK;
		kw_forget_last(p);
		if (rc)
			return rc;
	}
	/* With one keyword, leaving it out was leaving them all out. */
	if (k > 1 || !tried) {
		p->bare_why = why;
		rc = append(p, mailbox, &en, 1, 1, &refused, &blame, why2, sizeof why2, e);
		p->bare_why = NULL;
		if (rc || !refused)
			return rc;
	}
	refuse(p, en, why);
	return MV_OK;
}

static enum mv_err append_all(struct push *p, const char *mailbox, const struct mv_entry **list,
			      size_t n, struct mv_error *e)
{
	unsigned max = p->s.o->batch ? p->s.o->batch : BATCH_DEFAULT;
	int multi = mv_imapc_has(p->s.c, "MULTIAPPEND");
	enum mv_err rc = MV_OK;

	for (size_t i = 0; i < n && rc == MV_OK;) {
		size_t k = 0;
		uint64_t bytes = 0;
		char why[sizeof(((struct mv_error *)0)->msg)];
		int refused, blame;

		while (multi && i + k < n && k < max &&
		       (k == 0 || bytes + list[i + k]->blob.raw_size <= BATCH_BYTES))
			bytes += list[i + k++]->blob.raw_size;
		if (k <= 1) {
			rc = append_one(p, mailbox, list[i], e);
			i++;
			continue;
		}
		rc = append(p, mailbox, list + i, k, 0, &refused, &blame, why, sizeof why, e);
		if (rc)
			break;
		if (refused) {
			/* A MULTIAPPEND is atomic: nothing of the batch went
			 * in.  One by one, to find and report the message the
			 * target refuses. */
			mv_px_note(&p->s, "warning", "folder '%s': a batch of %zu was refused "
				   "(%s); appending them one by one", p->fr->source, k, why);
			for (size_t j = 0; j < k && rc == MV_OK; j++)
				rc = append_one(p, mailbox, list[i + j], e);
		}
		i += k;
	}
	return rc;
}

/* ---- one folder ---- */

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
	uint8_t *by_record = NULL;
	size_t stored = 0, lost = 0;
	enum mv_err rc;

	if (f->n && !(by_record = calloc(f->n, 1)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	/* What this run or an earlier one appended, and the target still
	 * holds under that UID, is present whatever its bytes now. */
	for (size_t i = 0; i < f->n; i++) {
		struct est *s = &p->es[i];
		struct mv_px_have *h;
		uint32_t uid;

		if (s->uid && s->uidvalidity == p->uidvalidity &&
		    (h = mv_px_find_have(x, s->uid)) && !h->used) {
			h->used = by_record[i] = 1;
			continue;
		}
		for (unsigned k = 0; p->st && (uid = mv_pushstate_find(p->st, p->tname,
					p->uidvalidity, f->e[i].blob.content_hash, k)); k++)
			if ((h = mv_px_find_have(x, uid)) && !h->used) {
				h->used = 1;
				by_record[i] = 2;
				break;
			}
	}
	/* The prefilter: size and date; then the bytes of the candidates. */
	for (size_t i = 0; i < f->n; i++) {
		int64_t d;
		int tz;

		if (by_record[i] || mv_imapdate_parse(f->e[i].date, strlen(f->e[i].date),
						      &d, &tz) != 0)
			continue;
		for (size_t k = 0; k < x->nh; k++)
			if (!x->h[k].used && x->h[k].size == f->e[i].blob.raw_size &&
			    x->h[k].date == d)
				x->h[k].cand = 1;
	}
	if ((rc = mv_px_hash_candidates(x, e)))
		goto out;
	*ntodo = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];
		struct est *s = &p->es[i];
		int found = by_record[i] != 0;

		if (s->state == E_REFUSED)
			continue;
		for (size_t k = 0; k < x->nh && !found; k++)
			if (x->h[k].hashed && !x->h[k].used &&
			    x->h[k].size == en->blob.raw_size &&
			    memcmp(x->h[k].hash, en->blob.content_hash, 32) == 0)
				found = x->h[k].used = 1;
		if (found && s->state == E_TODO) {
			s->state = E_PRESENT;
			if (by_record[i] == 2)
				p->r->present_by_record++;
		} else if (found && s->state == E_SENT) {
			/* Stored before the connection was lost. */
			stored++;
			s->state = E_APPENDED;
			p->progress = 1;
			if (s->dropped)
				note_dropped(p, en, s, NULL);
		} else if (!found) {
			if (s->state == E_SENT)
				lost++;
			else if (s->state != E_TODO)
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
	free(by_record);
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
	rc = append_all(p, name, todo, ntodo, e);
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
	struct mv_imap_push_folder *fr = p->fr;

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
	kw_forget_all(p);
	if (!(tpath = mv_px_target_path(&p->s, f, src)) || !(p->fr->target = strdup(tpath)) ||
	    (f->n && !(p->es = calloc(f->n, sizeof *p->es)))) {
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
	p->tname = NULL;
	kw_forget_all(p);
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
			 struct mv_imap_push_report *r, struct mv_error *e)
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
	r->tls = *mv_imapc_tls(p.s.c);
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
