/* imap_push.c - restoring a version into an IMAP account; see imap_push.h. */
#include "imap_push.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "imap_client.h"
#include "imap_pull.h"
#include "imapdate.h"
#include "msgmeta.h"
#include "pushstate.h"
#include "utf7.h"

#define BATCH_DEFAULT 50
/* Messages up to this size are decrypted into memory once; larger ones
 * are decrypted twice (a scan for NUL, then the send), never held. */
#define HOLD_MAX (8u << 20)
/* Bytes of one MULTIAPPEND command at most. */
#define BATCH_BYTES (16u << 20)
#define MAX_BODY (4ull << 30)

struct tfolder {
	char *name;                    /* bytes as the target lists them */
	char delim;
	uint8_t special;
};

/* A message already in the target folder. */
struct have {
	uint32_t uid;
	uint64_t size;
	int64_t date;
	int cand, used, hashed;
	uint8_t hash[32];
	uint32_t flags;                /* compare: system flags */
	char *kw;                      /* compare: keywords, folded, sorted */
};

struct px {
	struct mv_vault *v;
	const struct mv_imap_push_opts *o;
	struct mv_imap_push_report *r;
	struct mv_imapc *c;
	struct tfolder *tf;
	size_t ntf;
	char td;                       /* the target's hierarchy delimiter */
	struct mv_imap_push_folder *fr;

	struct have *h;
	size_t nh, caph;
	struct mv_hmac *hs;
	struct have *body_for;         /* the candidate being hashed */

	struct mv_pushstate *st;       /* NULL: no record */
	uint32_t uidvalidity;          /* of the target folder */
	const char *tname;             /* its name bytes */
	struct mv_buf msg;             /* a held message */
	int has_nul;                   /* NUL, bare CR or bare LF: binary */
	uint8_t last_byte;
};

static void note(struct px *x, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(struct px *x, const char *kind, const char *fmt, ...)
{
	char t[700];
	va_list ap;

	if (!x->o->event)
		return;
	va_start(ap, fmt);
	vsnprintf(t, sizeof t, fmt, ap);
	va_end(ap);
	x->o->event(x->o->event_ctx, kind, t);
}

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

/* ---- the target's folders ---- */


static enum mv_err on_list(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct px *x = ctx;
	struct tfolder *n;

	if (r->type != MV_IMAP_LIST || !r->mailbox || strlen(r->mailbox) != r->mailbox_len)
		return MV_OK;
	if (x->ntf >= MV_MAX_FOLDERS)
		return mv_fail(e, MV_E_LIMIT, "the target lists more than %u folders",
			       MV_MAX_FOLDERS);
	if (!(n = realloc(x->tf, (x->ntf + 1) * sizeof *n)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	x->tf = n;
	n = &x->tf[x->ntf];
	if (!(n->name = strdup(r->mailbox)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	n->delim = r->delim;
	n->special = mv_imapc_special(r);
	if (r->delim && (!x->td || strcasecmp(r->mailbox, "INBOX") == 0))
		x->td = r->delim;
	x->ntf++;
	return MV_OK;
}

static void clear_have(struct px *x)
{
	for (size_t i = 0; i < x->nh; i++)
		free(x->h[i].kw);
	x->nh = 0;
}

static struct tfolder *find_tf(struct px *x, const char *name)
{
	for (size_t i = 0; i < x->ntf; i++)
		if (strcmp(x->tf[i].name, name) == 0 ||
		    (strcasecmp(name, "INBOX") == 0 && strcasecmp(x->tf[i].name, "INBOX") == 0))
			return &x->tf[i];
	return NULL;
}

/* The target path (UTF-8, '/') for a source folder. */
static char *target_path(struct px *x, const struct mv_folder *f, const char *src)
{
	uint8_t role = f->special & (uint8_t)~MV_SU_NOSELECT;

	for (size_t i = 0; i < x->o->nmap; i++) {
		const char *m = x->o->map[i], *eq = strchr(m, '=');
		size_t k = eq ? (size_t)(eq - m) : 0;

		if (eq && strncmp(src, m, k) == 0 && (src[k] == '\0' || src[k] == '/')) {
			char *out = malloc(strlen(eq + 1) + strlen(src + k) + 1);

			if (out)
				sprintf(out, "%s%s", eq + 1, src + k);
			return out;
		}
	}
	/* A role the target also has: its folder, whatever its name. */
	if (role && !(role & (role - 1)))
		for (size_t i = 0; i < x->ntf; i++)
			if (x->tf[i].special & role)
				return mv_utf7_display(x->tf[i].name, x->tf[i].delim);
	return strdup(src);
}

/* The target's bytes for a UTF-8 '/' path: modified UTF-7, its delimiter. */
static enum mv_err target_name(struct px *x, const char *path, struct mv_buf *b,
			       struct mv_error *e)
{
	const char *p = path;

	mv_buf_reset(b);
	if (strncasecmp(p, "INBOX", 5) == 0 && (p[5] == '\0' || p[5] == '/')) {
		if (mv_buf_addstr(b, "INBOX"))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		p += 5;
		if (*p == '/' && x->td) {
			if (mv_buf_addc(b, (uint8_t)x->td))
				return mv_fail(e, MV_E_NOMEM, "out of memory");
			p++;
		}
	}
	while (*p) {
		const char *sl = strchr(p, '/');
		size_t n = sl ? (size_t)(sl - p) : strlen(p);

		if (mv_utf7_encode(b, p, n) != MV_OK)
			return mv_fail(e, MV_E_PARSE, "folder '%s' is not UTF-8", path);
		if (!sl)
			break;
		if (mv_buf_addc(b, (uint8_t)(x->td ? x->td : '/')))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		p = sl + 1;
	}
	if (mv_buf_cstr(b))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}

/* ---- what the target folder holds ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A flag list as system flag bits and one string of its keywords, folded
 * to lower case (keywords are case-insensitive), sorted, space-separated;
 * $Forwarded counts as Maildir's P.  -1 when out of memory.
 */
static int keyword_key(const char *const *fl, size_t n, uint32_t *bits, char **out)
{
	static const struct { const char *n; uint32_t bit; } sys[] = {
		{ "\\Seen", MV_FLAG_SEEN }, { "\\Answered", MV_FLAG_ANSWERED },
		{ "\\Flagged", MV_FLAG_FLAGGED }, { "\\Deleted", MV_FLAG_DELETED },
		{ "\\Draft", MV_FLAG_DRAFT }, { "$Forwarded", MV_FLAG_PASSED },
	};
	char **kw = n ? calloc(n, sizeof *kw) : NULL;
	size_t k = 0, len = 1;
	char *s;

	*bits = 0;
	*out = NULL;
	if (n && !kw)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < sizeof sys / sizeof sys[0]; j++)
			if (strcasecmp(fl[i], sys[j].n) == 0)
				break;
		if (j < sizeof sys / sizeof sys[0])
			*bits |= sys[j].bit;
		else if (fl[i][0] != '\\')
			kw[k++] = (char *)fl[i];
	}
	if (k)
		qsort(kw, k, sizeof *kw, cmp_str);
	for (size_t i = 0; i < k; i++)
		len += strlen(kw[i]) + 1;
	if (!(s = malloc(len))) {
		free(kw);
		return -1;
	}
	s[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, kw[i]);
	}
	for (char *q = s; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q + 32);
	free(kw);
	*out = s;
	return 0;
}

static enum mv_err on_have(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct px *x = ctx;
	const struct mv_imap_fetch *f = &r->fetch;
	struct have *h;
	int tz;

	if (r->type != MV_IMAP_FETCH || !(f->have & MV_IMAP_F_UID))
		return MV_OK;
	if ((f->have & MV_IMAP_F_BODY) && x->body_for) {
		/* The body sink hashed it; on_body_end kept the hash. */
		return MV_OK;
	}
	if (!(f->have & MV_IMAP_F_SIZE))
		return MV_OK;
	if (x->nh == x->caph) {
		size_t nc = x->caph ? x->caph * 2 : 1024;
		struct have *n;

		if (nc > (50u << 20))
			return mv_fail(e, MV_E_LIMIT, "target folder too large");
		if (!(n = realloc(x->h, nc * sizeof *n)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		x->h = n;
		x->caph = nc;
	}
	h = &x->h[x->nh++];
	memset(h, 0, sizeof *h);
	h->uid = f->uid;
	h->size = f->rfc822_size;
	if ((f->have & MV_IMAP_F_FLAGS) && keyword_key(f->flags, f->nflags, &h->flags, &h->kw))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if (!f->internaldate || mv_imapdate_parse(f->internaldate, strlen(f->internaldate),
						  &h->date, &tz) != 0)
		h->date = INT64_MIN;
	return MV_OK;
}

static int cmp_have(const void *a, const void *b)
{
	uint32_t x = ((const struct have *)a)->uid, y = ((const struct have *)b)->uid;

	return x < y ? -1 : x > y;
}

/* x->h is sorted by UID once the folder's list is complete. */
static struct have *find_have(struct px *x, uint32_t uid)
{
	size_t lo = 0, hi = x->nh;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->h[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nh && x->h[lo].uid == uid ? &x->h[lo] : NULL;
}

static enum mv_err body_begin(void *ctx, const struct mv_imap_body *b, struct mv_error *e)
{
	struct px *x = ctx;

	x->body_for = b->uid ? find_have(x, b->uid) : NULL;
	mv_hmac_free(x->hs);
	x->hs = mv_vault_content_hasher(x->v);
	return x->hs ? MV_OK : mv_fail(e, MV_E_NOMEM, "out of memory");
}

static enum mv_err body_data(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct px *x = ctx;

	(void)e;
	mv_hmac_update(x->hs, p, n);
	return MV_OK;
}

static enum mv_err body_end(void *ctx, struct mv_error *e)
{
	struct px *x = ctx;

	(void)e;
	if (x->body_for) {
		mv_hmac_final(x->hs, x->body_for->hash);
		x->body_for->hashed = 1;
	}
	mv_hmac_free(x->hs);
	x->hs = NULL;
	return MV_OK;
}

/* Hashes the bodies of the candidates (size and date match a message of
 * the version), one UID FETCH for all. */
static enum mv_err hash_candidates(struct px *x, struct mv_error *e)
{
	struct mv_buf set;
	enum mv_err rc = MV_OK;
	size_t k = 0;

	mv_buf_init(&set, 8u << 20);
	for (size_t i = 0; i < x->nh && rc == MV_OK; i++)
		if (x->h[i].cand && mv_buf_addf(&set, k++ ? ",%u" : "%u", x->h[i].uid))
			rc = mv_fail(e, MV_E_LIMIT, "too many candidates");
	if (rc == MV_OK && k && mv_buf_cstr(&set) == MV_OK) {
		struct mv_imap_body_sink sink = { body_begin, body_data, body_end, x };

		mv_imapc_set_body_sink(x->c, &sink);
		rc = mv_imapc_cmd(x->c, on_have, x, e, "UID FETCH %s (UID %s)",
				  (const char *)set.data,
				  mv_imapc_has(x->c, "BINARY") ? "BINARY.PEEK[]" : "BODY.PEEK[]");
		mv_imapc_set_body_sink(x->c, NULL);
		x->body_for = NULL;
	}
	mv_buf_release(&set);
	return rc;
}

/* ---- appending ---- */

/* Notes bytes a text literal may not carry unchanged: NUL, and CR or LF
 * outside a CRLF pair (servers normalise line ends of text literals;
 * literal8 bytes are kept as they are). */
static void scan_bytes(struct px *x, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && !x->has_nul; i++) {
		uint8_t c = p[i];

		if (c == 0)
			x->has_nul = 1;
		else if (c == '\n' && x->last_byte != '\r')
			x->has_nul = 1;
		else if (x->last_byte == '\r' && c != '\n')
			x->has_nul = 1;
		x->last_byte = c;
	}
}

static enum mv_err hold_out(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct px *x = ctx;

	scan_bytes(x, p, n);
	if (mv_buf_add(&x->msg, p, n))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}

static enum mv_err scan_out(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct px *x = ctx;

	(void)e;
	scan_bytes(x, p, n);
	return MV_OK;
}

static enum mv_err send_out(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct px *x = ctx;

	return mv_imapc_write(x->c, p, n, e);
}

/* The flag list of en, without keywords when bare. */
static enum mv_err flag_list(const struct mv_entry *en, int bare, struct mv_buf *b)
{
	static const struct { uint32_t bit; const char *n; } sys[] = {
		{ MV_FLAG_SEEN, "\\Seen" }, { MV_FLAG_ANSWERED, "\\Answered" },
		{ MV_FLAG_FLAGGED, "\\Flagged" }, { MV_FLAG_DELETED, "\\Deleted" },
		{ MV_FLAG_DRAFT, "\\Draft" },
	};
	int first = 1;

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
	for (size_t i = 0; !bare && i < en->nkw; i++) {
		const char *k = en->kw[i];
		int atom = k[0] != '\0';

		/* Only atoms can be sent as flags. */
		for (const char *q = k; *q && atom; q++)
			atom = (unsigned char)*q > 0x20 && (unsigned char)*q < 0x7f &&
			       !strchr("(){%*\"\\]", *q);
		if (!atom || (strcasecmp(k, "$Forwarded") == 0 && (en->flags & MV_FLAG_PASSED)))
			continue;
		if ((!first && mv_buf_addc(b, ' ')) || mv_buf_addstr(b, k))
			return MV_E_NOMEM;
		first = 0;
	}
	if (mv_buf_addc(b, ')') || mv_buf_cstr(b))
		return MV_E_NOMEM;
	return MV_OK;
}

/* Sends one message's "(flags) "date" {n}" part and its bytes. */
static enum mv_err send_message(struct px *x, const struct mv_entry *en, int bare,
				int plus, const char *tag, struct mv_error *e)
{
	struct mv_buf fl;
	enum mv_err rc;
	uint64_t n = en->blob.raw_size;
	int held = n <= HOLD_MAX;
	int lit8;

	mv_buf_init(&fl, 1u << 16);
	x->has_nul = 0;
	x->last_byte = 0;
	mv_buf_reset(&x->msg);
	if (held)
		rc = mv_vault_read_blob(x->v, &en->blob, hold_out, x, e);
	else
		rc = mv_vault_read_blob(x->v, &en->blob, scan_out, x, e);
	if (rc)
		goto out;
	if (flag_list(en, bare, &fl)) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	lit8 = x->has_nul && mv_imapc_has(x->c, "BINARY");
	if (x->has_nul && !lit8)
		note(x, "warning", "folder '%s' UID %u holds NUL bytes or bare CR/LF but the "
		     "target offers no BINARY: it may refuse or alter them", x->fr->source,
		     en->uid);
	rc = mv_imapc_more(x->c, 0, e, " %s%s%s%s %s{%llu%s}", (const char *)fl.data,
			   en->date[0] ? " \"" : "", en->date, en->date[0] ? "\"" : "",
			   lit8 ? "~" : "", (unsigned long long)n, plus ? "+" : "");
	if (rc == MV_OK && (rc = mv_imapc_more(x->c, 1, e, "")) == MV_OK && !plus)
		rc = mv_imapc_wait_continue(x->c, tag, e);
	if (rc)
		goto out;
	if (held)
		rc = mv_imapc_write(x->c, x->msg.data, x->msg.len, e);
	else
		rc = mv_vault_read_blob(x->v, &en->blob, send_out, x, e);
out:
	mv_buf_release(&fl);
	return rc;
}

/* Records the UIDs of an APPENDUID answer ("UIDVALIDITY set") for the
 * messages of the command, in order. */
static enum mv_err record_uids(struct px *x, const struct mv_imap_resp *r,
			       const struct mv_entry **list, size_t n, struct mv_error *e)
{
	const char *s;
	uint32_t lo, hi;
	size_t i = 0;
	unsigned long long uv;
	char *end;

	if (!x->st || !r || strcmp(r->code, "APPENDUID") != 0 || !r->code_arg)
		return MV_OK;
	uv = strtoull(r->code_arg, &end, 10);
	if (end == r->code_arg || *end != ' ' || uv == 0 || uv > UINT32_MAX)
		return MV_OK;
	s = end + 1;
	while (i < n && mv_imap_set_next(&s, &lo, &hi))
		for (uint64_t u = lo; u <= hi && i < n; u++, i++) {
			enum mv_err rc = mv_pushstate_add(x->st, x->tname, (uint32_t)uv,
							  (uint32_t)u, list[i]->blob.content_hash, e);

			if (rc)
				return rc;
		}
	return MV_OK;
}

/*
 * APPENDs entries list[0..n) to mailbox in one command (MULTIAPPEND when
 * n > 1).  *refused: the server answered NO/BAD (its text in e, which is
 * then cleared of the error code); other errors are returned.
 */
static enum mv_err append(struct px *x, const char *mailbox, const struct mv_entry **list,
			  size_t n, int bare, int *refused, char *why, size_t whycap,
			  struct mv_error *e)
{
	char tag[16];
	int plus = mv_imapc_has(x->c, "LITERAL+");
	const struct mv_imap_resp *resp = NULL;
	enum mv_err rc;

	*refused = 0;
	rc = mv_imapc_start(x->c, tag, e, "APPEND %M", mailbox);
	for (size_t i = 0; rc == MV_OK && i < n; i++)
		rc = send_message(x, list[i], bare, plus, tag, e);
	if (rc == MV_E_PARSE) {
		/* A synchronising literal was refused: the command is over. */
		snprintf(why, whycap, "%s", e->msg);
		mv_error_clear(e);
		*refused = 1;
		return MV_OK;
	}
	if (rc == MV_OK)
		rc = mv_imapc_more(x->c, 1, e, "");
	if (rc == MV_OK)
		rc = mv_imapc_wait(x->c, tag, NULL, NULL, NULL, &resp, e);
	if (rc == MV_OK)
		rc = record_uids(x, resp, list, n, e);
	if (rc == MV_E_PARSE) {
		snprintf(why, whycap, "%s", e->msg);
		mv_error_clear(e);
		*refused = 1;
		return MV_OK;
	}
	return rc;
}

/* One message alone; if refused with keywords, once more without them. */
static enum mv_err append_one(struct px *x, const char *mailbox, const struct mv_entry *en,
			      struct mv_error *e)
{
	char why[sizeof(((struct mv_error *)0)->msg)];
	int refused;
	enum mv_err rc = append(x, mailbox, &en, 1, 0, &refused, why, sizeof why, e);

	if (rc || !refused)
		goto done;
	if (en->nkw) {
		char why2[sizeof(((struct mv_error *)0)->msg)];

		rc = append(x, mailbox, &en, 1, 1, &refused, why2, sizeof why2, e);
		if (rc)
			return rc;
		if (!refused) {
			x->fr->dropped_keywords += en->nkw;
			x->r->dropped_keywords += en->nkw;
			note(x, "warning", "folder '%s' UID %u: appended without its %u keywords "
			     "(%s ...): %s", x->fr->source, en->uid, en->nkw, en->kw[0], why);
			goto done;
		}
	}
	x->fr->refused++;
	x->r->refused++;
	note(x, "refused", "folder '%s' UID %u (%llu bytes): %s", x->fr->source, en->uid,
	     (unsigned long long)en->blob.raw_size, why);
	return MV_OK;
done:
	if (rc == MV_OK && !refused) {
		x->fr->appended++;
		x->r->appended++;
		x->fr->bytes += en->blob.raw_size;
	}
	return rc;
}

static enum mv_err append_all(struct px *x, const char *mailbox, const struct mv_entry **list,
			      size_t n, struct mv_error *e)
{
	unsigned max = x->o->batch ? x->o->batch : BATCH_DEFAULT;
	int multi = mv_imapc_has(x->c, "MULTIAPPEND");
	enum mv_err rc = MV_OK;

	for (size_t i = 0; i < n && rc == MV_OK;) {
		size_t k = 0;
		uint64_t bytes = 0;
		char why[sizeof(((struct mv_error *)0)->msg)];
		int refused;

		while (multi && i + k < n && k < max &&
		       (k == 0 || bytes + list[i + k]->blob.raw_size <= BATCH_BYTES))
			bytes += list[i + k++]->blob.raw_size;
		if (k <= 1) {
			rc = append_one(x, mailbox, list[i], e);
			i++;
			continue;
		}
		rc = append(x, mailbox, list + i, k, 0, &refused, why, sizeof why, e);
		if (rc)
			break;
		if (!refused) {
			x->fr->appended += k;
			x->r->appended += k;
			x->fr->bytes += bytes;
			i += k;
			continue;
		}
		/* A MULTIAPPEND is atomic: nothing of the batch went in.  One
		 * by one, to find and report the message the target refuses. */
		note(x, "warning", "folder '%s': a batch of %zu was refused (%s); appending "
		     "them one by one", x->fr->source, k, why);
		for (size_t j = 0; j < k && rc == MV_OK; j++)
			rc = append_one(x, mailbox, list[i + j], e);
		i += k;
	}
	return rc;
}

/* ---- one folder ---- */

struct sel {
	uint32_t exists, uidvalidity;
};

static enum mv_err on_select(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct sel *s = ctx;

	(void)e;
	if (r->type == MV_IMAP_EXISTS)
		s->exists = r->num;
	if (r->type == MV_IMAP_OK && r->ncode_num && strcmp(r->code, "UIDVALIDITY") == 0)
		s->uidvalidity = (uint32_t)r->code_num[0];
	return MV_OK;
}


static enum mv_err push_folder(struct px *x, const struct mv_folder *f, const char *src,
			       struct mv_error *e)
{
	struct mv_buf name;
	char *tpath = NULL;
	const struct mv_entry **todo = NULL;
	size_t ntodo = 0;
	struct sel sel = { 0, 0 };
	uint8_t *by_record = NULL;
	int is_new = 0;
	enum mv_err rc = MV_OK;

	mv_buf_init(&name, MV_MAX_FOLDER_NAME * 8);
	clear_have(x);
	if (!(tpath = target_path(x, f, src)) || !(x->fr->target = strdup(tpath))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = target_name(x, tpath, &name, e)))
		goto out;
	if (!find_tf(x, (const char *)name.data)) {
		is_new = 1;
		x->fr->created = 1;
		note(x, "create", "%s folder '%s'", x->o->dry_run ? "would create" : "creating",
		     tpath);
		if (!x->o->dry_run &&
		    (rc = mv_imapc_cmd(x->c, NULL, NULL, e, "CREATE %M",
				       (const char *)name.data))) {
			mv_error_prefix(e, "cannot create folder '%s'", tpath);
			goto out;
		}
	}
	if (f->special & MV_SU_NOSELECT || f->n == 0)
		goto out;
	if (!is_new || !x->o->dry_run) {
		if ((rc = mv_imapc_cmd(x->c, on_select, &sel, e, "EXAMINE %M",
				       (const char *)name.data))) {
			mv_error_prefix(e, "folder '%s'", tpath);
			goto out;
		}
		if (sel.exists && (rc = mv_imapc_cmd(x->c, on_have, x, e,
						 "UID FETCH 1:* (UID RFC822.SIZE INTERNALDATE)")))
			goto out;
	}
	x->uidvalidity = sel.uidvalidity;
	x->tname = (const char *)name.data;
	if (x->nh)
		qsort(x->h, x->nh, sizeof *x->h, cmp_have);
	/* What the record says this push (or an earlier one) appended and
	 * the target still holds is present, whatever its bytes now. */
	if (f->n && !(by_record = calloc(f->n, 1))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; x->st && i < f->n; i++) {
		uint32_t uid;

		for (unsigned k = 0; (uid = mv_pushstate_find(x->st, x->tname, x->uidvalidity,
							      f->e[i].blob.content_hash, k)); k++) {
			struct have *h = find_have(x, uid);

			if (h && !h->used) {
				h->used = 1;
				by_record[i] = 1;
				break;
			}
		}
	}
	/* The prefilter: size and date; then the bytes of the candidates. */
	for (size_t i = 0; i < f->n; i++) {
		int64_t d;
		int tz;

		if (mv_imapdate_parse(f->e[i].date, strlen(f->e[i].date), &d, &tz) != 0)
			continue;
		if (by_record[i])
			continue;
		for (size_t k = 0; k < x->nh; k++)
			if (!x->h[k].used && x->h[k].size == f->e[i].blob.raw_size &&
			    x->h[k].date == d)
				x->h[k].cand = 1;
	}
	if ((rc = hash_candidates(x, e)))
		goto out;
	if (f->n && !(todo = calloc(f->n, sizeof *todo))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];
		int found = by_record[i];

		if (found)
			x->r->present_by_record++;
		for (size_t k = 0; k < x->nh && !found; k++)
			if (x->h[k].hashed && !x->h[k].used &&
			    x->h[k].size == en->blob.raw_size &&
			    memcmp(x->h[k].hash, en->blob.content_hash, 32) == 0)
				found = x->h[k].used = 1;
		if (found) {
			x->fr->present++;
			x->r->present++;
		} else {
			todo[ntodo++] = en;
		}
	}
	if (x->o->dry_run) {
		for (size_t i = 0; i < ntodo; i++) {
			x->fr->appended++;
			x->r->appended++;
			x->fr->bytes += todo[i]->blob.raw_size;
		}
		goto out;
	}
	rc = append_all(x, (const char *)name.data, todo, ntodo, e);
out:
	if (x->st) {
		struct mv_error e2;

		mv_error_clear(&e2);
		if (mv_pushstate_save(x->st, &e2) && rc == MV_OK)
			rc = mv_fail(e, e2.code, "%s", e2.msg);
	}
	free(by_record);
	free(todo);
	free(tpath);
	mv_buf_release(&name);
	return rc;
}

/* ---- the session, shared by push and compare ---- */

static enum mv_err px_init(struct px *x, struct mv_vault *v,
			   const struct mv_imap_push_opts *o, struct mv_error *e)
{
	memset(x, 0, sizeof *x);
	x->v = v;
	x->o = o;
	mv_buf_init(&x->msg, HOLD_MAX);
	return mv_transport_init(e);
}

/* Connects and lists the target's folders. */
static enum mv_err px_open(struct px *x, const struct mv_imap_push_opts *o,
			   struct mv_error *e)
{
	enum mv_err rc;

	if ((rc = mv_imapc_open(&x->c, &o->conn, MAX_BODY, e)))
		return rc;
	return mv_imapc_cmd(x->c, on_list, x, e,
			    mv_imapc_has(x->c, "SPECIAL-USE") && mv_imapc_has(x->c, "LIST-EXTENDED")
			    ? "LIST \"\" \"*\" RETURN (SPECIAL-USE)" : "LIST \"\" \"*\"");
}

/* The UTF-8 path of a version folder that --folder/--exclude select
 * (malloc'd), or NULL with *rc MV_OK when it is not selected. */
static char *px_source(const struct mv_folder *f, const struct mv_imap_push_opts *o,
		       enum mv_err *rc, struct mv_error *e)
{
	char *src = mv_utf7_display(f->name, (char)f->delim);

	*rc = MV_OK;
	if (!src) {
		*rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		return NULL;
	}
	if (!mv_imap_folder_wanted(o->include, o->ninclude, o->exclude, o->nexclude, src)) {
		free(src);
		return NULL;
	}
	return src;
}

/* Grows an array of reports by one zeroed element; NULL when out of
 * memory. */
static void *px_grow(void **arr, size_t *n, size_t size)
{
	char *p = realloc(*arr, (*n + 1) * size);

	if (!p)
		return NULL;
	*arr = p;
	memset(p + *n * size, 0, size);
	return p + (*n)++ * size;
}

/* Logs out when the work went well, then frees everything of x. */
static void px_release(struct px *x, enum mv_err rc)
{
	if (rc == MV_OK)
		mv_imapc_close(x->c);
	else
		mv_imapc_free(x->c);
	x->c = NULL;
	mv_pushstate_free(x->st);
	mv_hmac_free(x->hs);
	for (size_t i = 0; i < x->ntf; i++)
		free(x->tf[i].name);
	free(x->tf);
	clear_have(x);
	free(x->h);
	mv_buf_release(&x->msg);
	mv_transport_done();
}

enum mv_err mv_push_imap(struct mv_vault *v, const struct mv_index *ix,
			 const struct mv_imap_push_opts *o,
			 struct mv_imap_push_report *r, struct mv_error *e)
{
	struct px x;
	enum mv_err rc;

	memset(r, 0, sizeof *r);
	if ((rc = px_init(&x, v, o, e)))
		return rc;
	x.r = r;
	if (o->state_path && !o->dry_run) {
		struct mv_error e2;

		mv_error_clear(&e2);
		if (mv_pushstate_open(&x.st, o->state_path, v->kr->fk, v->h.archive_id, &e2)) {
			if (e2.code != MV_E_DECRYPT) {
				rc = mv_fail(e, e2.code, "%s", e2.msg);
				goto out;
			}
			/* Unreadable: content alone decides, and a new record
			 * replaces it. */
			note(&x, "warning", "%s; starting a new record", e2.msg);
			unlink(o->state_path);
			mv_error_clear(&e2);
			if (mv_pushstate_open(&x.st, o->state_path, v->kr->fk, v->h.archive_id,
					      &e2)) {
				rc = mv_fail(e, e2.code, "%s", e2.msg);
				goto out;
			}
		}
	}
	if ((rc = px_open(&x, o, e)))
		goto out;
	r->tls = *mv_imapc_tls(x.c);
	r->multiappend = mv_imapc_has(x.c, "MULTIAPPEND");
	r->literal_plus = mv_imapc_has(x.c, "LITERAL+");
	r->binary = mv_imapc_has(x.c, "BINARY");
	for (size_t i = 0; rc == MV_OK && i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];
		char *src = px_source(f, o, &rc, e);

		if (!src)
			continue;
		if (!(x.fr = px_grow((void **)&r->f, &r->nf, sizeof *r->f))) {
			free(src);
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		x.fr->source = src;
		x.fr->messages = f->n;
		rc = push_folder(&x, f, src, e);
	}
out:
	px_release(&x, rc);
	return rc;
}

/* ---- verify --against ---- */

void mv_imap_diff_release(struct mv_imap_diff_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nf; i++) {
		free(r->f[i].source);
		free(r->f[i].target);
	}
	for (size_t i = 0; i < r->nitems; i++)
		free(r->items[i].folder);
	free(r->f);
	free(r->items);
	memset(r, 0, sizeof *r);
}

static void diff_item(struct mv_imap_diff_report *r, const char *kind, const char *folder,
		      uint32_t src_uid, uint32_t dst_uid)
{
	struct mv_imap_diff_item *n;

	if (r->nitems >= 10000) {
		r->more++;
		return;
	}
	if (!(n = realloc(r->items, (r->nitems + 1) * sizeof *n)))
		return;
	r->items = n;
	n = &r->items[r->nitems];
	snprintf(n->kind, sizeof n->kind, "%s", kind);
	n->folder = strdup(folder);
	n->src_uid = src_uid;
	n->dst_uid = dst_uid;
	r->nitems++;
}

static enum mv_err diff_folder(struct px *x, struct mv_imap_diff_report *dr,
			       struct mv_imap_diff_folder *df, const struct mv_folder *f,
			       struct mv_error *e)
{
	struct mv_buf name;
	char *tpath = NULL;
	struct sel sel = { 0, 0 };
	uint8_t *done = NULL;
	enum mv_err rc = MV_OK;

	mv_buf_init(&name, MV_MAX_FOLDER_NAME * 8);
	clear_have(x);
	if (!(tpath = target_path(x, f, df->source)) || !(df->target = strdup(tpath))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = target_name(x, tpath, &name, e)))
		goto out;
	if (f->special & MV_SU_NOSELECT)
		goto out;
	if (!find_tf(x, (const char *)name.data)) {
		df->missing = f->n;
		dr->missing += f->n;
		df->absent = 1;
		for (size_t i = 0; i < f->n; i++)
			diff_item(dr, "missing", df->source, f->e[i].uid, 0);
		goto out;
	}
	if ((rc = mv_imapc_cmd(x->c, on_select, &sel, e, "EXAMINE %M", (const char *)name.data)))
		goto out;
	if (sel.exists && (rc = mv_imapc_cmd(x->c, on_have, x, e,
					     "UID FETCH 1:* (UID RFC822.SIZE INTERNALDATE FLAGS)")))
		goto out;
	if (x->nh)
		qsort(x->h, x->nh, sizeof *x->h, cmp_have);
	/* Every message of the target is read once and hashed. */
	for (size_t k = 0; k < x->nh; k++)
		x->h[k].cand = 1;
	if ((rc = hash_candidates(x, e)))
		goto out;
	if (f->n && !(done = calloc(f->n, 1))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	/* Same bytes first, then same size and date (altered), else missing. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < f->n; i++) {
			const struct mv_entry *en = &f->e[i];
			int64_t d = INT64_MIN;
			int tz;
			struct have *m = NULL;

			if (done[i])
				continue;
			mv_imapdate_parse(en->date, strlen(en->date), &d, &tz);
			for (size_t k = 0; k < x->nh && !m; k++) {
				struct have *h = &x->h[k];

				if (h->used)
					continue;
				if (pass == 0 ? h->hashed && memcmp(h->hash, en->blob.content_hash, 32) == 0
					      : h->size == en->blob.raw_size && h->date == d)
					m = h;
			}
			if (!m && pass == 0)
				continue;
			done[i] = 1;
			if (!m) {
				df->missing++;
				dr->missing++;
				diff_item(dr, "missing", df->source, en->uid, 0);
				continue;
			}
			m->used = 1;
			if (pass == 1) {
				df->altered++;
				dr->altered++;
				diff_item(dr, "altered", df->source, en->uid, m->uid);
				continue;
			}
			df->matched++;
			{
				uint32_t bits;
				char *kw = NULL;

				if (keyword_key((const char *const *)en->kw, en->nkw, &bits, &kw)) {
					rc = mv_fail(e, MV_E_NOMEM, "out of memory");
					goto out;
				}
				bits |= en->flags & MV_FLAG_ALL;
				if (bits != m->flags || strcmp(kw, m->kw ? m->kw : "") != 0) {
					df->flags++;
					dr->flags++;
					diff_item(dr, "flags", df->source, en->uid, m->uid);
				}
				free(kw);
			}
			if (d != m->date) {
				df->dates++;
				dr->dates++;
				diff_item(dr, "date", df->source, en->uid, m->uid);
			}
		}
	for (size_t k = 0; k < x->nh; k++)
		if (!x->h[k].used) {
			df->extra++;
			dr->extra++;
			diff_item(dr, "extra", df->source, 0, x->h[k].uid);
		}
out:
	free(done);
	free(tpath);
	mv_buf_release(&name);
	return rc;
}

enum mv_err mv_compare_imap(struct mv_vault *v, const struct mv_index *ix,
			    const struct mv_imap_push_opts *o,
			    struct mv_imap_diff_report *r, struct mv_error *e)
{
	struct px x;
	enum mv_err rc;

	memset(r, 0, sizeof *r);
	if ((rc = px_init(&x, v, o, e)))
		return rc;
	if ((rc = px_open(&x, o, e)))
		goto out;
	for (size_t i = 0; rc == MV_OK && i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];
		char *src = px_source(f, o, &rc, e);
		struct mv_imap_diff_folder *nf;

		if (!src)
			continue;
		if (!(nf = px_grow((void **)&r->f, &r->nf, sizeof *r->f))) {
			free(src);
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		nf->source = src;
		nf->messages = f->n;
		rc = diff_folder(&x, r, nf, f, e);
	}
out:
	px_release(&x, rc);
	return rc;
}
