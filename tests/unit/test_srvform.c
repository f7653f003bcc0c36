/*
 * test_srvform.c - the renderings of srvform.h.  MV_FORM_SERVER against
 * what Dovecot 2.3.19 (Maildir) served in BODY[] for messages APPENDed
 * with literal8 and with text literals alike (recorded by hand with a
 * raw TLS client: RFC822.SIZE, BODY.PEEK[], BINARY.PEEK[]); MV_FORM_CRLF
 * against Python's imaplib rule (re.sub(br'\r\n|\r(?!\n)|\n', b'\r\n')).
 * Each case is also fed one byte at a time, as a stream may split it.
 */
#include <string.h>

#include "srvform.h"
#include "t.h"

struct out {
	uint8_t b[32768];
	size_t n;
	int overflow;
};

static void collect(void *ctx, const uint8_t *p, size_t n)
{
	struct out *o = ctx;

	if (o->n + n > sizeof o->b) {
		o->overflow = 1;
		return;
	}
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

/* 1 when the rendering of in (n bytes), whole and byte by byte, is want. */
static int renders(int form, const char *in, size_t n, const char *want, size_t wn)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct mv_render r;
		struct out o;

		memset(&o, 0, sizeof o);
		mv_render_init(&r, form, collect, &o);
		if (bytewise)
			for (size_t i = 0; i < n; i++)
				mv_render_feed(&r, (const uint8_t *)in + i, 1);
		else
			mv_render_feed(&r, (const uint8_t *)in, n);
		mv_render_end(&r);
		if (o.overflow || o.n != wn || memcmp(o.b, want, wn) != 0)
			return 0;
	}
	return 1;
}

#define S(x) x, sizeof x - 1

int main(void)
{
	/* Observed from Dovecot. */
	T_CHECK("server: a bare LF is served as CRLF",
		renders(MV_FORM_SERVER, S("Subject: lf\n\nbare lf\n"),
			S("Subject: lf\r\n\r\nbare lf\r\n")));
	T_CHECK("server: a bare CR in the middle stays",
		renders(MV_FORM_SERVER, S("Subject: crmid\r\n\r\na\rb\r\n"),
			S("Subject: crmid\r\n\r\na\rb\r\n")));
	T_CHECK("server: a final bare CR is dropped",
		renders(MV_FORM_SERVER, S("Subject: crfinal\r\n\r\nends\r"),
			S("Subject: crfinal\r\n\r\nends")));
	T_CHECK("server: NUL is served as 0x80 (0x80 stays)",
		renders(MV_FORM_SERVER, S("Subject: h\r\n\r\na\x80" "b\0c\r\n"),
			S("Subject: h\r\n\r\na\x80" "b\x80" "c\r\n")));
	T_CHECK("server: LF CR LF becomes CRLF CRLF, CR CR LF becomes CR LF",
		renders(MV_FORM_SERVER, S("Subject: lfcr\n\nx\n\r\ny\r\r\nz\n"),
			S("Subject: lfcr\r\n\r\nx\r\n\r\ny\r\nz\r\n")));
	T_CHECK("server: of two final CRs one goes",
		renders(MV_FORM_SERVER, S("Subject: crcr\r\n\r\na\r\rb\r\r"),
			S("Subject: crcr\r\n\r\na\r\rb\r")));
	T_CHECK("server: CRLF text is served as it is",
		renders(MV_FORM_SERVER, S("A: b\r\n\r\nc\r\n"), S("A: b\r\n\r\nc\r\n")));
	T_CHECK("server: the empty message", renders(MV_FORM_SERVER, "", 0, "", 0));

	/* imaplib's rule. */
	T_CHECK("crlf: bare LF and bare CR become CRLF, CRLF stays, NUL stays",
		renders(MV_FORM_CRLF, S("a\nb\rc\r\nd\0\r"), S("a\r\nb\r\nc\r\nd\0\r\n")));
	T_CHECK("crlf: CR CR LF becomes CRLF CRLF",
		renders(MV_FORM_CRLF, S("x\r\r\ny"), S("x\r\n\r\ny")));
	T_CHECK("crlf: LF CR becomes CRLF CRLF",
		renders(MV_FORM_CRLF, S("x\n\ry"), S("x\r\n\r\ny")));

	/* Long runs of plain bytes, across the internal buffer. */
	{
		static char in[18003], want[18005];
		size_t wn = 0;

		memset(in, 'a', 9000);
		memcpy(in + 9000, "\n\0\r", 3);
		memset(in + 9003, 'b', 9000);
		memcpy(want, in, 9000);
		memcpy(want + 9000, "\r\n\x80\r", 4);
		memcpy(want + 9004, in + 9003, 9000);
		wn = 18004;
		T_CHECK("server: runs of 9000 plain bytes around LF, NUL and CR",
			renders(MV_FORM_SERVER, in, sizeof in, want, wn));
		memcpy(want + 9000, "\r\n\0\r\n", 5);
		memcpy(want + 9005, in + 9003, 9000);
		T_CHECK("crlf: runs of 9000 plain bytes around LF, NUL and CR",
			renders(MV_FORM_CRLF, in, sizeof in, want, 18005));
	}

	/* Output past the internal buffer comes out whole and in order. */
	{
		static char in[10000], want[20000];
		struct mv_render r;
		struct out o;
		size_t wn = 0;
		int ok = 1;
		uint8_t got[20000];
		size_t gn = 0;

		for (size_t i = 0; i < sizeof in; i++) {
			in[i] = i % 2 ? '\n' : 'x';
			want[wn++] = in[i] == '\n' ? '\r' : 'x';
			if (in[i] == '\n')
				want[wn++] = '\n';
		}
		mv_render_init(&r, MV_FORM_SERVER, collect, &o);
		for (size_t i = 0; i < sizeof in; i += 100) {
			memset(&o, 0, sizeof o);
			mv_render_feed(&r, (const uint8_t *)in + i, 100);
			ok = ok && !o.overflow && gn + o.n <= sizeof got;
			if (ok)
				memcpy(got + gn, o.b, o.n);
			gn += o.n;
		}
		memset(&o, 0, sizeof o);
		mv_render_end(&r);
		ok = ok && !o.overflow && gn + o.n <= sizeof got;
		if (ok)
			memcpy(got + gn, o.b, o.n);
		gn += o.n;
		T_CHECK("server: 10000 bytes render as 15000, whole and in order",
			ok && gn == wn && memcmp(got, want, wn) == 0);
	}
	return T_DONE();
}
