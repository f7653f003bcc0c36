/* err.c - error records; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mv_error_clear(struct mv_error *e)
{
	if (!e)
		return;
	e->code = MV_OK;
	e->version = -1;
	e->record = -1;
	e->offset = -1;
	e->msg[0] = '\0';
}

static void prepend(struct mv_error *e, const char *fmt, va_list ap)
{
	char head[sizeof e->msg];
	char old[sizeof e->msg];
	int n;

	vsnprintf(head, sizeof head, fmt, ap);
	if (e->msg[0]) {
		memcpy(old, e->msg, sizeof old);
		/* Truncation keeps the outermost context, which is what a
		 * reader needs first. */
		n = snprintf(e->msg, sizeof e->msg, "%s: ", head);
		if (n >= 0 && (size_t)n < sizeof e->msg)
			memcpy(e->msg + n, old, strnlen(old, sizeof e->msg - (size_t)n - 1) + 1);
		e->msg[sizeof e->msg - 1] = '\0';
	} else {
		memcpy(e->msg, head, sizeof head);
	}
}

enum mv_err mv_fail(struct mv_error *e, enum mv_err code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	/* The innermost failure decides the code; outer layers add context. */
	if (e->code == MV_OK) {
		e->code = code;
		e->msg[0] = '\0';
	}
	va_start(ap, fmt);
	prepend(e, fmt, ap);
	va_end(ap);
	return e->code;
}

enum mv_err mv_error_prefix(struct mv_error *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return MV_E_INTERNAL;
	va_start(ap, fmt);
	prepend(e, fmt, ap);
	va_end(ap);
	return e->code;
}

static const struct {
	enum mv_err code;
	const char *name;
	enum mv_err_class cls;
} table[] = {
	{ MV_OK, "ok", MV_CLASS_OK },
	{ MV_E_USAGE, "usage", MV_CLASS_USAGE },
	{ MV_E_IO, "io", MV_CLASS_IO },
	{ MV_E_NOMEM, "nomem", MV_CLASS_IO },
	{ MV_E_EXISTS, "exists", MV_CLASS_USAGE },
	{ MV_E_NOTFOUND, "not-found", MV_CLASS_NOTFOUND },
	{ MV_E_INTERNAL, "internal", MV_CLASS_IO },
	{ MV_E_KEY, "key", MV_CLASS_KEY },
	{ MV_E_NEED_OWNER, "need-owner", MV_CLASS_KEY },
	{ MV_E_MAGIC, "magic", MV_CLASS_CORRUPT },
	{ MV_E_VERSION, "version", MV_CLASS_CORRUPT },
	{ MV_E_FRAME, "frame", MV_CLASS_CORRUPT },
	{ MV_E_RECORD_HASH, "record-hash", MV_CLASS_CORRUPT },
	{ MV_E_SEQUENCE, "sequence", MV_CLASS_CORRUPT },
	{ MV_E_LIMIT, "limit", MV_CLASS_CORRUPT },
	{ MV_E_LENGTH, "length", MV_CLASS_CORRUPT },
	{ MV_E_HEADER_MAC, "header-mac", MV_CLASS_CORRUPT },
	{ MV_E_STANZA, "stanza", MV_CLASS_CORRUPT },
	{ MV_E_KDF_LIMIT, "kdf-limit", MV_CLASS_CORRUPT },
	{ MV_E_LOW_ORDER, "low-order", MV_CLASS_CORRUPT },
	{ MV_E_COMMITMENT, "commitment", MV_CLASS_CORRUPT },
	{ MV_E_DECRYPT, "decrypt", MV_CLASS_CORRUPT },
	{ MV_E_CHUNK, "chunk", MV_CLASS_CORRUPT },
	{ MV_E_INDEX, "index", MV_CLASS_CORRUPT },
	{ MV_E_MERKLE, "merkle", MV_CLASS_CORRUPT },
	{ MV_E_SIGNATURE, "signature", MV_CLASS_CORRUPT },
	{ MV_E_SIGNER, "signer", MV_CLASS_SIGNER },
	{ MV_E_CHAIN, "chain", MV_CLASS_CORRUPT },
	{ MV_E_TORN, "torn", MV_CLASS_TORN },
	{ MV_E_ROLLBACK, "rollback", MV_CLASS_CORRUPT },
	{ MV_E_CONTENT, "content", MV_CLASS_CORRUPT },
	{ MV_E_COMPRESS, "compress", MV_CLASS_CORRUPT },
	{ MV_E_PROOF, "proof", MV_CLASS_CORRUPT },
	{ MV_E_EMPTY, "empty", MV_CLASS_CORRUPT },
	{ MV_E_PARSE, "parse", MV_CLASS_INPUT },
	{ MV_E_AUTH, "auth", MV_CLASS_AUTH },
	{ MV_E_TLS, "tls", MV_CLASS_TLS },
	{ MV_E_NET, "net", MV_CLASS_NET },
	{ MV_E_PARTIAL, "partial", MV_CLASS_PARTIAL },
};

const char *mv_err_name(enum mv_err code)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].code == code)
			return table[i].name;
	return "unknown";
}

int mv_err_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcmp(table[i].name, name) == 0)
			return (int)table[i].code;
	return -1;
}

enum mv_err_class mv_err_class(enum mv_err code)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].code == code)
			return table[i].cls;
	return MV_CLASS_IO;
}

void mv_eventv(mv_event_fn fn, void *ctx, const char *kind, const char *fmt, va_list ap)
{
	char t[900];

	if (!fn)
		return;
	vsnprintf(t, sizeof t, fmt, ap);
	fn(ctx, kind, t);
}
