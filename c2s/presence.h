/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/presence.h — presence broadcast, probes, directed presence, subscriptions (RFC 6121) */
#pragma once

#include "c2s/c2s.h"
#include "storage/roster.h"

void presence_init(Server *srv);
/* Any presence a bound client sent ('from' stamped). st borrowed. */
void presence_from_client(C2sSession *cs, Stanza *st);
/* Presence for a local account (to its bare or full JID). TRUE when handled here
 * (subscription stanzas, probes); FALSE: deliver it the usual way. st borrowed. */
gboolean presence_inbound(Stanza *st);
/* The session ends: unavailable to contacts, own resources and directed recipients. */
void presence_session_gone(C2sSession *cs);
/* RFC 6121 §2.1.6: a roster push of it to every interested resource of user. */
void roster_push(const char *user, const RosterItem *it);
/* Every available resource of user sends unavailable to contact (RFC 6121 §3.2.2). */
void presence_unavailable_to(const char *user, const char *contact);
/* RFC 6121 §2.3 and §2.5 (c2s/mod_roster.c): the roster set st (an iq carrying a
 * jabber:iq:roster query) applied to user's roster as if the account sent it, for its own
 * client and for XEP-0356 privileged components alike. Returns the reply (a result or the
 * error); on success *push is the item to push to the interested resources with
 * roster_push() once the reply went out, else NULL. transfer full (both) */
Stanza *roster_apply_set(Server *srv, Stanza *st, const char *user, RosterItem **push);
/* <item/> for a client (borrowed it); appended to parent. */
void roster_item_to_xml(const RosterItem *it, XmlNode *parent);
