/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_router.c — the routing table: exact domains, then routes with subdomains */
#include "router/router.h"

static void deliver_nothing(Stanza *st, gpointer ud)
{
    stanza_unref(st);
}

static void test_exact_and_subdomains(void)
{
    router_init();
    RouterRoute *local = router_register("example.org", ROUTE_LOCAL, deliver_nothing, NULL);
    RouterRoute *irc = router_register("irc.example.org", ROUTE_COMPONENT, deliver_nothing, NULL);
    RouterRoute *sms = router_register("sms.example.org", ROUTE_COMPONENT, deliver_nothing, NULL);
    g_assert_nonnull(local);
    g_assert_nonnull(irc);
    g_assert_null(router_register("irc.example.org", ROUTE_COMPONENT, deliver_nothing, NULL));
    router_route_set_subdomains(irc, TRUE);

    g_assert_true(router_lookup("example.org") == local);
    g_assert_true(router_lookup("irc.example.org") == irc);
    g_assert_true(router_lookup("chan.irc.example.org") == irc);
    g_assert_true(router_lookup("a.b.irc.example.org") == irc);
    /* without subdomains only the exact domain */
    g_assert_true(router_lookup("sms.example.org") == sms);
    g_assert_null(router_lookup("x.sms.example.org"));
    /* a hosted domain is never a parent route */
    g_assert_null(router_lookup("other.example.org"));
    g_assert_null(router_lookup("xirc.example.org"));
    g_assert_null(router_lookup("example.net"));
    /* an exact route wins over the parent's subdomains */
    RouterRoute *exact =
        router_register("x.irc.example.org", ROUTE_COMPONENT, deliver_nothing, NULL);
    g_assert_true(router_lookup("x.irc.example.org") == exact);
    g_assert_true(router_lookup("y.x.irc.example.org") == irc);
    router_unregister(irc);
    g_assert_null(router_lookup("chan.irc.example.org"));
    g_assert_true(router_route_kind(sms) == ROUTE_COMPONENT);
    router_fini();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/router/exact-and-subdomains", test_exact_and_subdomains);
    return g_test_run();
}
