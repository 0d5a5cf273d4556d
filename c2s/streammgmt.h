/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/streammgmt.h — XEP-0198 stream management: acks, resumption, hibernation */
#pragma once

#include "c2s/c2s.h"

#define NS_SM "urn:xmpp:sm:3"

void smgmt_init(Server *srv);
void smgmt_fini(void);
/* <sm/> in the features after authentication. */
void smgmt_features(C2sSession *cs, XmlNode *features);
/* An element in urn:xmpp:sm:3 (transfer full). Returns the session that owns the stream
 * afterwards (the resumed one after <resume/>, which frees cs). */
C2sSession *smgmt_handle(C2sSession *cs, XmlNode *el);
/* One stanza handled from the client. */
void smgmt_inbound(C2sSession *cs);
/* Keep el until acknowledged; on_ack (may be NULL) runs when the client acks it, destroy
 * always. from_storage: a copy of stored data (offline), never re-routed at the end.
 * Returns FALSE when the queue overflowed (the session is being ended). */
gboolean smgmt_track(C2sSession *cs, const XmlNode *el, void (*on_ack)(gpointer), gpointer ud,
                     GDestroyNotify destroy, gboolean from_storage);
/* The connection broke: keep the session for resume_timeout. TRUE when hibernating. */
gboolean smgmt_hibernate(C2sSession *cs);
/* The session ends for good: unacknowledged messages are delivered again as if the
 * resource were gone (other resources or offline storage), iq requests bounced. */
void smgmt_session_end(C2sSession *cs);
