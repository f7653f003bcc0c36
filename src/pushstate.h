/*
 * pushstate.h - push's own record of what it appended to one account.
 *
 * For each append the target confirmed with APPENDUID: the target folder
 * (its name bytes), its UIDVALIDITY, the UID and the message's content
 * hash.  A later push treats a message as present when the record names
 * it under the folder's current UIDVALIDITY and that UID still exists --
 * which holds even when the server changed the bytes on APPEND (Dovecot
 * drops a final bare CR, for one) so that they can no longer be matched
 * by content.  The file is sealed (XChaCha20-Poly1305) under a key derived
 * from the archive's file key and bound to the archive ID: it reveals
 * nothing without the key, and a record of another archive, or a tampered
 * one, does not open.  Written 0600 to a temporary file, synced and
 * renamed.
 */
#ifndef MV_PUSHSTATE_H
#define MV_PUSHSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct mv_pushstate;

/*
 * Opens the record at path (absent: empty).  MV_E_DECRYPT when it does not
 * open under this key and archive ID (the caller may start afresh),
 * MV_E_IO, MV_E_NOMEM, MV_E_LIMIT (over 256 MiB).
 */
enum mv_err mv_pushstate_open(struct mv_pushstate **out, const char *path,
			      const uint8_t file_key[32], const uint8_t archive_id[16],
			      struct mv_error *e);
void mv_pushstate_free(struct mv_pushstate *s);

/* The k-th UID (in UID order) recorded for hash in folder under
 * uidvalidity, or 0.  Only what the file held when opened is searched. */
uint32_t mv_pushstate_find(struct mv_pushstate *s, const char *folder,
			   uint32_t uidvalidity, const uint8_t hash[32], unsigned k);

enum mv_err mv_pushstate_add(struct mv_pushstate *s, const char *folder,
			     uint32_t uidvalidity, uint32_t uid, const uint8_t hash[32],
			     struct mv_error *e);

/* Writes the record if it changed. */
enum mv_err mv_pushstate_save(struct mv_pushstate *s, struct mv_error *e);

#endif
