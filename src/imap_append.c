/* imap_append.c - push's appending: batches, refusals, keywords; see
 * imap_push_int.h. */
#include "imap_push_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_client.h"
#include "msgmeta.h"

#define BATCH_DEFAULT 50
/* Bytes of one MULTIAPPEND command at most. */
#define BATCH_BYTES (16u << 20)
/* A refused message with at most this many keywords is tried again
 * without each of them in turn (to keep the others); with more, without
 * all of them at once. */
#define KW_SEARCH_MAX 8

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

void mv_push_kw_forget_all(struct push *p)
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
void mv_push_note_dropped(struct push *p, const struct mv_entry *en, const struct est *s,
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
			mv_push_note_dropped(p, list[i], s, p->bare_why);
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

enum mv_err mv_push_append_all(struct push *p, const char *mailbox,
			       const struct mv_entry **list, size_t n, struct mv_error *e)
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
