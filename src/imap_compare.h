/*
 * imap_compare.h - verify --against: a version compared with a live IMAP
 * account, folder by folder.
 *
 * The target folder of each version folder is chosen as push chooses it
 * (imap_push.h: --map, special-use role, same path).  Every message of the
 * target folder is fetched with .PEEK and hashed under the archive's
 * content key; nothing on the target changes.
 *
 * A target message matches a version message when its BODY[] bytes are
 * the message's bytes, or their rendering by the server (srvform.h: the
 * line ends of a message with bare CR or LF, NUL shown as 0x80; where
 * BINARY is offered, a message with NUL is looked at once more with
 * BINARY[] for its exact bytes).  Those matched only as rendered are
 * counted apart ("rendered"), not as differences.
 */
#ifndef MV_IMAP_COMPARE_H
#define MV_IMAP_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "index.h"
#include "push_report.h"
#include "vault.h"

struct mv_imap_push_opts;          /* imap_push.h: account, folders, --map */

/*
 * Compares the folders of ix (a version loaded with mv_vault_load_index;
 * the vault unlocked for reading) with the account: a version message is
 * matched by its bytes (or their rendering), then checked for flags, keywords and INTERNALDATE
 * ("flags", "date"); unmatched ones with the size (or a rendering's) and
 * date of an unmatched target message are "altered", the rest "missing"; target
 * messages left over are "extra".  The report (*r, the caller releases it
 * whatever the result) is complete when MV_OK.  Changes nothing.  Errors
 * as imap_client.h (MV_E_NET: the connection was lost; no reconnection),
 * the vault's, MV_E_NOMEM.
 */
enum mv_err mv_compare_imap(struct mv_vault *v, const struct mv_index *ix,
			    const struct mv_imap_push_opts *o,
			    struct mv_diff_report *r, struct mv_error *e);

#endif
