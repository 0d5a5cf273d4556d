/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_router.c — the routing table: exact domains, then routes with subdomains */
#include "router/hooks.h"
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

static HookResult count_calls(const char *event, gpointer data, gpointer ud)
{
    GString *log = data;
    g_string_append(log, ud);
    return !strcmp(ud, "H") ? HOOK_HANDLED : HOOK_PASS;
}

/* one call site: it keeps the chain it found between calls */
static HookResult fire_here(GString *log)
{
    return HOOK_FIRE("test/site", log);
}

/* A call site that keeps its chain sees handlers added after its first call (the chain is
 * made on that call), in priority order, and after hooks_fini() looks it up again. */
static void test_hook_site(void)
{
    g_autoptr(GString) log = g_string_new(NULL);
    g_assert_cmpint(fire_here(log), ==, HOOK_PASS); /* no handler yet */
    hook_add("test/site", 0, count_calls, "b");
    hook_add("test/site", 10, count_calls, "a");
    g_assert_cmpint(fire_here(log), ==, HOOK_PASS);
    g_assert_cmpstr(log->str, ==, "ab");
    g_assert_cmpint(hook_fire("test/site", log), ==, HOOK_PASS); /* the same chain by name */
    g_assert_cmpstr(log->str, ==, "abab");
    hook_add("test/site", 5, count_calls, "H");
    g_assert_cmpint(fire_here(log), ==, HOOK_HANDLED); /* stops the chain */
    g_assert_cmpstr(log->str, ==, "ababaH");
    hook_remove("test/site", count_calls, "H");
    g_string_truncate(log, 0);
    g_assert_cmpint(fire_here(log), ==, HOOK_PASS);
    g_assert_cmpstr(log->str, ==, "ab");

    hooks_fini(); /* the site's chain is gone with it */
    g_string_truncate(log, 0);
    g_assert_cmpint(fire_here(log), ==, HOOK_PASS);
    g_assert_cmpstr(log->str, ==, "");
    hook_add("test/site", 0, count_calls, "c");
    g_assert_cmpint(fire_here(log), ==, HOOK_PASS);
    g_assert_cmpstr(log->str, ==, "c");
    hooks_fini();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/router/exact-and-subdomains", test_exact_and_subdomains);
    g_test_add_func("/hooks/site", test_hook_site);
    return g_test_run();
}
