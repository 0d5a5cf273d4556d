/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_subscription.c — RFC 6121 Appendix A, one case per table row */
#include <string.h>

#include "c2s/subscription.h"

/* The nine states of Appendix A */
static const struct {
    const char *name;
    SubState st;
} states[] = {
    {"None", {0, 0, 0, 0, 0}},
    {"None + Pending Out", {0, 0, 1, 0, 0}},
    {"None + Pending In", {0, 0, 0, 1, 0}},
    {"None + Pending Out+In", {0, 0, 1, 1, 0}},
    {"To", {1, 0, 0, 0, 0}},
    {"To + Pending In", {1, 0, 0, 1, 0}},
    {"From", {0, 1, 0, 0, 0}},
    {"From + Pending Out", {0, 1, 1, 0, 0}},
    {"Both", {1, 1, 0, 0, 0}},
};

typedef struct {
    SubDirection dir;
    SubType type;
    const char *from_state;
    const char *to_state;
    gboolean passes; /* routed (outbound) or delivered (inbound) */
} Row;

static const Row rows[] = {
    /* A.2.1 outbound subscribe: always routed */
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "None", "None + Pending Out", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "None + Pending Out", "None + Pending Out", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "None + Pending In", "None + Pending Out+In", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "None + Pending Out+In", "None + Pending Out+In", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "To", "To", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "To + Pending In", "To + Pending In", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "From", "From + Pending Out", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "From + Pending Out", "From + Pending Out", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBE, "Both", "Both", TRUE},
    /* A.2.2 outbound unsubscribe */
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "None", "None", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "None + Pending Out", "None", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "None + Pending In", "None + Pending In", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "None + Pending Out+In", "None + Pending In", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "To", "None", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "To + Pending In", "None + Pending In", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "From", "From", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "From + Pending Out", "From", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBE, "Both", "From", TRUE},
    /* A.2.3 outbound subscribed: routed only on a state change */
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "None", "None", FALSE},
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "None + Pending Out", "None + Pending Out", FALSE},
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "None + Pending In", "From", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "None + Pending Out+In", "From + Pending Out", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "To", "To", FALSE},
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "To + Pending In", "Both", TRUE},
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "From", "From", FALSE},
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "From + Pending Out", "From + Pending Out", FALSE},
    {SUB_OUTBOUND, SUB_SUBSCRIBED, "Both", "Both", FALSE},
    /* A.2.4 outbound unsubscribed */
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "None", "None", FALSE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "None + Pending Out", "None + Pending Out", FALSE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "None + Pending In", "None", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "None + Pending Out+In", "None + Pending Out", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "To", "To", FALSE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "To + Pending In", "To", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "From", "None", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "From + Pending Out", "None + Pending Out", TRUE},
    {SUB_OUTBOUND, SUB_UNSUBSCRIBED, "Both", "To", TRUE},
    /* A.3.1 inbound subscribe (already From/Both: auto-reply, not delivered) */
    {SUB_INBOUND, SUB_SUBSCRIBE, "None", "None + Pending In", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBE, "None + Pending Out", "None + Pending Out+In", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBE, "None + Pending In", "None + Pending In", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBE, "None + Pending Out+In", "None + Pending Out+In", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBE, "To", "To + Pending In", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBE, "To + Pending In", "To + Pending In", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBE, "From", "From", FALSE},
    {SUB_INBOUND, SUB_SUBSCRIBE, "From + Pending Out", "From + Pending Out", FALSE},
    {SUB_INBOUND, SUB_SUBSCRIBE, "Both", "Both", FALSE},
    /* A.3.2 inbound unsubscribe */
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "None", "None", FALSE},
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "None + Pending Out", "None + Pending Out", FALSE},
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "None + Pending In", "None", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "None + Pending Out+In", "None + Pending Out", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "To", "To", FALSE},
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "To + Pending In", "To", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "From", "None", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "From + Pending Out", "None + Pending Out", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBE, "Both", "To", TRUE},
    /* A.3.3 inbound subscribed */
    {SUB_INBOUND, SUB_SUBSCRIBED, "None", "None", FALSE},
    {SUB_INBOUND, SUB_SUBSCRIBED, "None + Pending Out", "To", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBED, "None + Pending In", "None + Pending In", FALSE},
    {SUB_INBOUND, SUB_SUBSCRIBED, "None + Pending Out+In", "To + Pending In", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBED, "To", "To", FALSE},
    {SUB_INBOUND, SUB_SUBSCRIBED, "To + Pending In", "To + Pending In", FALSE},
    {SUB_INBOUND, SUB_SUBSCRIBED, "From", "From", FALSE},
    {SUB_INBOUND, SUB_SUBSCRIBED, "From + Pending Out", "Both", TRUE},
    {SUB_INBOUND, SUB_SUBSCRIBED, "Both", "Both", FALSE},
    /* A.3.4 inbound unsubscribed */
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "None", "None", FALSE},
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "None + Pending Out", "None", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "None + Pending In", "None + Pending In", FALSE},
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "None + Pending Out+In", "None + Pending In", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "To", "None", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "To + Pending In", "None + Pending In", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "From", "From", FALSE},
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "From + Pending Out", "From", TRUE},
    {SUB_INBOUND, SUB_UNSUBSCRIBED, "Both", "From", TRUE},
};

static SubState state_named(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(states); i++)
        if (!strcmp(states[i].name, name))
            return states[i].st;
    g_error("no state %s", name);
}

static void test_row(gconstpointer data)
{
    const Row *r = data;
    SubState s = state_named(r->from_state);
    SubAction a = sub_apply(&s, r->dir, r->type, TRUE);
    g_assert_cmpstr(sub_state_name(&s), ==, r->to_state);
    gboolean passes = r->dir == SUB_OUTBOUND ? !!(a & SUB_ACT_ROUTE) : !!(a & SUB_ACT_DELIVER);
    g_assert_cmpint(passes, ==, r->passes);
    /* a change the roster shows (subscription, ask) is always pushed; pending-in is not
     * part of the roster (RFC 6121 §2.1.2) */
    SubState before = state_named(r->from_state);
    gboolean visible =
        before.to != s.to || before.from != s.from || before.pending_out != s.pending_out;
    if (visible)
        g_assert_true(a & SUB_ACT_PUSH);
}

static void test_auto_reply(void)
{
    SubState s = state_named("Both");
    g_assert_true(sub_apply(&s, SUB_INBOUND, SUB_SUBSCRIBE, TRUE) & SUB_ACT_AUTO_SUBSCRIBED);
    s = state_named("None");
    g_assert_false(sub_apply(&s, SUB_INBOUND, SUB_SUBSCRIBE, TRUE) & SUB_ACT_AUTO_SUBSCRIBED);
}

/* RFC 6121 §3.4: pre-approval, then the contact's request is answered at once. */
static void test_preapproval(void)
{
    SubState s = state_named("None");
    SubAction a = sub_apply(&s, SUB_OUTBOUND, SUB_SUBSCRIBED, TRUE);
    g_assert_true(s.approved);
    g_assert_false(a & SUB_ACT_ROUTE);
    a = sub_apply(&s, SUB_INBOUND, SUB_SUBSCRIBE, TRUE);
    g_assert_true(a & SUB_ACT_AUTO_SUBSCRIBED);
    g_assert_false(a & SUB_ACT_DELIVER);
    g_assert_cmpstr(sub_state_name(&s), ==, "From");
    g_assert_false(s.approved);
    /* without server support: nothing happens */
    s = state_named("None");
    g_assert_cmpint(sub_apply(&s, SUB_OUTBOUND, SUB_SUBSCRIBED, FALSE), ==, SUB_ACT_NONE);
    g_assert_false(s.approved);
    /* unsubscribed cancels a pre-approval without routing */
    s = state_named("None");
    sub_apply(&s, SUB_OUTBOUND, SUB_SUBSCRIBED, TRUE);
    a = sub_apply(&s, SUB_OUTBOUND, SUB_UNSUBSCRIBED, TRUE);
    g_assert_false(s.approved);
    g_assert_false(a & SUB_ACT_ROUTE);
}

static void test_unavailable_on_cancel(void)
{
    SubState s = state_named("Both");
    g_assert_true(sub_apply(&s, SUB_OUTBOUND, SUB_UNSUBSCRIBED, TRUE) & SUB_ACT_SEND_UNAVAILABLE);
    s = state_named("None + Pending In");
    g_assert_true(sub_apply(&s, SUB_OUTBOUND, SUB_SUBSCRIBED, TRUE) & SUB_ACT_SEND_PRESENCE);
}

int main(int argc, char **argv)
{
    static const char *const dir_names[] = {"outbound", "inbound"};
    static const char *const type_names[] = {"subscribe", "subscribed", "unsubscribe",
                                             "unsubscribed"};
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autofree char *path = g_strdup_printf("/subscription/%s-%s/%s", dir_names[rows[i].dir],
                                                type_names[rows[i].type], rows[i].from_state);
        g_test_add_data_func(path, &rows[i], test_row);
    }
    g_test_add_func("/subscription/auto-reply", test_auto_reply);
    g_test_add_func("/subscription/preapproval", test_preapproval);
    g_test_add_func("/subscription/unavailable-on-cancel", test_unavailable_on_cancel);
    return g_test_run();
}
