/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_csi.c — XEP-0352 client state indication: hold what is not urgent */
#include "c2s/modules.h"

#include <string.h>

#define NS_CSI "urn:xmpp:csi:0"
#define CSI_MAX_HELD 500 /* then everything is flushed */

void csi_features(C2sSession *cs, XmlNode *features)
{
    xml_node_add_child(features, NS_CSI, "csi");
}

static gboolean is_urgent(const XmlNode *el)
{
    if (!strcmp(el->name, "presence"))
        return FALSE;
    if (!strcmp(el->name, "message")) {
        /* a chat state or marker alone can wait; a body cannot */
        if (xml_node_child(el, NULL, "body") || xml_node_child(el, NULL, "subject"))
            return TRUE;
        return !xml_node_child(el, "http://jabber.org/protocol/chatstates", NULL) &&
               !xml_node_child(el, "urn:xmpp:chat-markers:0", NULL) &&
               !xml_node_child(el, "urn:xmpp:receipts", NULL);
    }
    return TRUE; /* iq and anything else */
}

static void flush(C2sSession *cs)
{
    if (!cs->csi_held)
        return;
    g_autoptr(GPtrArray) held = g_steal_pointer(&cs->csi_held);
    for (guint i = 0; i < held->len; i++)
        c2s_transmit(cs, g_ptr_array_index(held, i));
}

gboolean csi_hold(C2sSession *cs, const XmlNode *el)
{
    if (!cs->csi_inactive)
        return FALSE;
    if (is_urgent(el)) {
        flush(cs); /* held ones first, in order */
        return FALSE;
    }
    if (!cs->csi_held)
        cs->csi_held = g_ptr_array_new_with_free_func((GDestroyNotify)xml_node_free);
    if (!strcmp(el->name, "presence")) { /* only the latest presence per sender counts */
        const char *from = xml_node_attr(el, "from");
        for (guint i = 0; i < cs->csi_held->len; i++) {
            XmlNode *h = g_ptr_array_index(cs->csi_held, i);
            if (!strcmp(h->name, "presence") && !g_strcmp0(xml_node_attr(h, "from"), from)) {
                g_ptr_array_remove_index(cs->csi_held, i);
                break;
            }
        }
    }
    g_ptr_array_add(cs->csi_held, xml_node_copy(el));
    if (cs->csi_held->len > CSI_MAX_HELD)
        flush(cs);
    return TRUE;
}

void csi_handle(C2sSession *cs, XmlNode *el)
{
    if (!strcmp(el->name, "inactive")) {
        cs->csi_inactive = TRUE;
    } else if (!strcmp(el->name, "active")) {
        cs->csi_inactive = FALSE;
        flush(cs);
    }
    xml_node_free(el);
}

void csi_session_clear(C2sSession *cs)
{
    g_clear_pointer(&cs->csi_held, g_ptr_array_unref);
}

static gboolean csi_init(Server *srv, GError **error)
{
    return TRUE;
}

const ModuleDesc mod_csi = {
    .name = "csi",
    .init = csi_init,
};
