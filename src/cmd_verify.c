/* cmd_verify.c - verify, prove and check-proof. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "proof.h"
#include "verify.h"

int cmd_verify(int argc, char **argv)
{
	struct cli_keys k;
	struct mv_vault *v = NULL;
	struct mv_verify_report r;
	struct mv_error e;
	const char *arch = NULL, *signer = NULL;
	enum mv_err vr;
	int rc = EX_OK;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--against") == 0)
			return cmd_verify_against(argc, argv);
	memset(&k, 0, sizeof k);
	memset(&r, 0, sizeof r);
	mv_error_clear(&e);
	for (int i = 1; i < argc; i++) {
		int x = cli_key_option(&k, argc, argv, &i);

		if (x < 0)
			return cli_die(EX_USAGE, "%s needs a value", argv[i]);
		if (x)
			continue;
		if (strcmp(argv[i], "--signer") == 0 && i + 1 < argc)
			signer = argv[++i];
		else if (argv[i][0] != '-' && !arch)
			arch = argv[i];
		else
			return cli_die(EX_USAGE, "usage: mbox-vault verify ARCHIVE [--signer FINGERPRINT]");
	}
	if (!arch)
		return cli_die(EX_USAGE, "usage: mbox-vault verify ARCHIVE [--signer FINGERPRINT]");
	if (mv_vault_open(&v, arch, 0, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	if (!v->has_commit) {
		/* Only a creation that was cut off looks like this. */
		rc = cli_die(EX_TORN,
			     "'%s' has no committed version: recoverable: %llu bytes after the header; the next pull starts it over",
			     arch, (unsigned long long)v->torn);
		goto out;
	}
	if (cli_state_check(v, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	/* Keys only when the user named some: keyless is the auditor's case. */
	if (cli_keys_present(&k) &&
	    (cli_keys_load(&k, 0, 0, &e) || mv_vault_unlock(v, &k.creds, &e))) {
		rc = cli_error(&e);
		goto out;
	}
	vr = mv_verify(v, signer, &r, &e);
	if (vr != MV_OK && vr != MV_E_TORN) {
		rc = cli_error(&e);
		goto out;
	}
	printf("archive %s: %u versions (%u complete, %u partial, %u grants), %llu records\n",
	       arch, r.commits, r.complete, r.partial, r.grants, (unsigned long long)r.records);
	printf("signer %s%s\n", r.signer, signer ? " (as required)" : "");
	if (r.keyed)
		printf("decrypted and checked %llu messages (%llu stored, %llu bytes)\n",
		       (unsigned long long)r.messages_checked, (unsigned long long)r.blobs_checked,
		       (unsigned long long)r.bytes);
	else
		printf("checked without a key: structure, hashes, Merkle roots, signatures and the version chain\n");
	if (vr == MV_E_TORN) {
		rc = cli_error(&e);
		goto out;
	}
	printf("OK\n");
	cli_state_save(v);
out:
	mv_vault_free(v);
	cli_keys_release(&k);
	return rc;
}

int cmd_prove(int argc, char **argv)
{
	struct cli_keys k;
	struct mv_vault *v = NULL;
	struct mv_commit_info c;
	struct mv_index ix;
	struct mv_error e;
	struct mv_buf out;
	const char *arch = NULL, *ref = NULL, *outp = NULL;
	uint32_t version = 0;
	size_t fno = 0, eno = 0;
	int rc = 0, fd = -1;

	memset(&k, 0, sizeof k);
	mv_index_init(&ix);
	mv_error_clear(&e);
	mv_buf_init(&out, 1u << 30);
	for (int i = 1; i < argc; i++) {
		int x = cli_key_option(&k, argc, argv, &i);

		if (x < 0) {
			rc = cli_die(EX_USAGE, "%s needs a value", argv[i]);
			goto out;
		}
		if (x)
			continue;
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			outp = argv[++i];
		} else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
			long long n = cli_number(argv[++i]);

			if (n <= 0 || n > UINT32_MAX) {
				rc = cli_die(EX_USAGE, "--version takes a version number");
				goto out;
			}
			version = (uint32_t)n;
		} else if (argv[i][0] != '-' && !arch) {
			arch = argv[i];
		} else if (argv[i][0] != '-' && !ref) {
			ref = argv[i];
		} else {
			rc = cli_die(EX_USAGE, "usage: mbox-vault prove ARCHIVE REF -o FILE");
			goto out;
		}
	}
	if (!arch || !ref || !outp) {
		rc = cli_die(EX_USAGE, "usage: mbox-vault prove ARCHIVE REF -o FILE");
		goto out;
	}
	if ((rc = cli_open(arch, &k, 1, &v)) || (rc = cli_pick_commit(v, version, &c)))
		goto out;
	if (mv_vault_load_index(v, &c, NULL, &ix, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	if ((rc = cli_resolve_ref(v, &ix, ref, &fno, &eno)))
		goto out;
	if (mv_proof_build(v, &c, &ix, fno, eno, &out, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	fd = open(outp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = cli_die(EX_FAIL, "cannot create '%s': %s", outp, strerror(errno));
		goto out;
	}
	if (write(fd, out.data, out.len) != (ssize_t)out.len || fsync(fd) != 0) {
		rc = cli_die(EX_FAIL, "cannot write '%s': %s", outp, strerror(errno));
		unlink(outp);
		goto out;
	}
	if (!cli_quiet) {
		char fp[65];

		mv_signer_fingerprint(fp, v->h.owner_pk);
		printf("wrote a proof for %s in version %u to %s\ncheck it with: mbox-vault check-proof %s MESSAGE.eml --signer %s\n",
		       ref, c.number, outp, outp, fp);
	}
out:
	if (fd >= 0)
		close(fd);
	mv_buf_release(&out);
	mv_index_release(&ix);
	mv_vault_free(v);
	cli_keys_release(&k);
	return rc;
}

/* Reads a whole file into a malloc'd buffer (bounded by max). */
static int slurp(const char *path, size_t max, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *b;
	size_t got = 0;

	if (fd < 0)
		return cli_die(EX_NOTFOUND, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return cli_die(EX_INPUT, "'%s' is too large", path);
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return cli_die(EX_FAIL, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*out = b;
	*len = got;
	return 0;
}

int cmd_check_proof(int argc, char **argv)
{
	const char *pf = NULL, *mf = NULL, *signer = NULL;
	uint8_t *ptext = NULL, *msg = NULL;
	size_t plen = 0, mlen = 0;
	struct mv_proof_result r;
	struct mv_error e;
	int rc;

	mv_error_clear(&e);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--signer") == 0 && i + 1 < argc)
			signer = argv[++i];
		else if (argv[i][0] != '-' && !pf)
			pf = argv[i];
		else if (argv[i][0] != '-' && !mf)
			mf = argv[i];
		else
			return cli_die(EX_USAGE, "usage: mbox-vault check-proof FILE MESSAGE.eml --signer FINGERPRINT");
	}
	if (!pf || !mf || !signer)
		return cli_die(EX_USAGE, "usage: mbox-vault check-proof FILE MESSAGE.eml --signer FINGERPRINT");
	if ((rc = slurp(pf, 1u << 30, &ptext, &plen)) ||
	    (rc = slurp(mf, (size_t)1 << 36, &msg, &mlen)))
		goto out;
	if (mv_proof_check((const char *)ptext, plen, msg, mlen, signer, &r, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	printf("OK: %s is message UID %u of folder '%s' in version %u, signed by %s\n"
	       "size %llu, INTERNALDATE \"%s\", flags 0x%x\n",
	       mf, r.uid, r.folder, r.commit, r.signer, (unsigned long long)r.size, r.date,
	       r.flags);
	rc = EX_OK;
out:
	free(ptext);
	free(msg);
	return rc;
}
