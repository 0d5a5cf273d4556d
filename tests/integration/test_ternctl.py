#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_ternctl.py — ternctl account commands against a running ternd
# (checked by logging in), exit codes, config errors in ternctl and ternd --check-config,
# and the --version options.

import os
import re
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_SASL, Ternd, check, q, run_ternd, run_tests, sasl_condition,  # noqa: E402
                     ternctl, write_config)

DOMAINS = ("localhost", "tern.test")


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.t = Ternd(domains=DOMAINS).start()
    ctx.tmp = tempfile.mkdtemp(prefix="ternctl-test-")
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    ctx.t.cleanup()
    shutil.rmtree(ctx.tmp, ignore_errors=True)


def out(r):
    return "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout.strip(), r.stderr.strip())


def sasl_result(t, user, password, mech="SCRAM-SHA-1", domain="localhost"):
    """'success' or the SASL failure condition, logging in over STARTTLS to domain."""
    with t.client(domain=domain) as c:
        c.connect()
        el = c.sasl(user, password, mech)
        if el.tag == q(NS_SASL, "success"):
            return "success"
        check(el.tag == q(NS_SASL, "failure"), "unexpected SASL answer", el)
        return sasl_condition(el)


def listusers(t, *args):
    r = t.ternctl("listusers", *args)
    check(r.returncode == 0, "listusers: " + out(r))
    return r.stdout.split()


def test_adduser_login(ctx):
    t = ctx.t
    r = t.ternctl("adduser", "dave@localhost", "first pw")
    check(r.returncode == 0, "adduser: " + out(r))
    check("dave@localhost" in listusers(t), "listusers lacks dave: %s" % listusers(t))
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"):
        got = sasl_result(t, "dave", "first pw", mech)
        check(got == "success", "%s login after adduser: %s" % (mech, got))
    full = None
    with t.client() as c:
        full = c.login("dave", "first pw")
    check(full and full.startswith("dave@localhost/"), "bind after adduser: %s" % full)


def test_adduser_stdin(ctx):
    t = ctx.t
    r = t.ternctl("adduser", "erin@tern.test", stdin="from stdin\n")
    check(r.returncode == 0, "adduser with the password on stdin: " + out(r))
    got = sasl_result(t, "erin", "from stdin", domain="tern.test")
    check(got == "success", "login with the stdin password: %s" % got)


def test_adduser_existing(ctx):
    t = ctx.t
    r = t.ternctl("adduser", "dave@localhost", "other pw")
    check(r.returncode == 1, "adduser of an existing user: expected exit 1; " + out(r))
    got = sasl_result(t, "dave", "first pw")
    check(got == "success", "existing password no longer works: %s" % got)
    got = sasl_result(t, "dave", "other pw")
    check(got == "not-authorized", "the second adduser changed the password: %s" % got)


def test_listusers_domain(ctx):
    t = ctx.t
    t.adduser("frank@tern.test", "x")
    all_users = listusers(t)
    check({"dave@localhost", "erin@tern.test", "frank@tern.test"} <= set(all_users),
          "listusers: %s" % all_users)
    only = listusers(t, "tern.test")
    check(sorted(only) == ["erin@tern.test", "frank@tern.test"],
          "listusers tern.test: %s" % only)
    check("dave@localhost" in listusers(t, "localhost"), "listusers localhost")


def test_passwd(ctx):
    t = ctx.t
    r = t.ternctl("passwd", "dave@localhost", "second pw")
    check(r.returncode == 0, "passwd: " + out(r))
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"):
        got = sasl_result(t, "dave", "second pw", mech)
        check(got == "success", "%s with the new password: %s" % (mech, got))
        got = sasl_result(t, "dave", "first pw", mech)
        check(got == "not-authorized", "%s with the old password: %s" % (mech, got))
    r = t.ternctl("passwd", "dave@localhost", stdin="third pw\n")
    check(r.returncode == 0, "passwd from stdin: " + out(r))
    check(sasl_result(t, "dave", "third pw") == "success", "login after passwd from stdin")
    r = t.ternctl("passwd", "nobody@localhost", "x")
    check(r.returncode == 1, "passwd of a nonexistent account: expected exit 1; " + out(r))


def test_deluser(ctx):
    t = ctx.t
    r = t.ternctl("deluser", "dave@localhost")
    check(r.returncode == 0, "deluser: " + out(r))
    check("dave@localhost" not in listusers(t), "listusers still has dave")
    for mech in ("SCRAM-SHA-1", "PLAIN"):
        got = sasl_result(t, "dave", "third pw", mech)
        check(got == "not-authorized", "%s login after deluser: %s" % (mech, got))
    r = t.ternctl("deluser", "dave@localhost")
    check(r.returncode == 1, "deluser of a deleted account: expected exit 1; " + out(r))


def test_unhosted_domain(ctx):
    t = ctx.t
    for args in (("adduser", "x@elsewhere.example", "pw"), ("passwd", "x@elsewhere.example", "pw"),
                 ("deluser", "x@elsewhere.example")):
        r = t.ternctl(*args)
        check(r.returncode == 2, "%s of an unhosted domain: expected exit 2; %s"
              % (args[0], out(r)))
        check("elsewhere.example" in r.stderr, "message does not name the domain: " + out(r))
    check(not any("elsewhere" in u for u in listusers(t)), "an unhosted account was created")


def test_usage_errors(ctx):
    t = ctx.t
    for args in (("frobnicate",), ("adduser",), ("adduser", "not a jid@@", "pw"),
                 ("adduser", "a@localhost/res", "pw"), ("deluser",)):
        r = t.ternctl(*args)
        check(r.returncode == 2, "ternctl %s: expected exit 2; %s" % (" ".join(args), out(r)))
    r = ternctl([])
    check(r.returncode == 2, "ternctl without a command: expected exit 2; " + out(r))


def _bad_config(ctx, name, sections, extra_text=""):
    path = os.path.join(ctx.tmp, name + ".conf")
    base = {"server": {"domains": "localhost", "data_dir": os.path.join(ctx.tmp, "data"),
                       "certificates": os.path.join(ctx.tmp, "certs")}}
    for s, kv in sections.items():
        base.setdefault(s, {}).update(kv)
    write_config(path, base)
    if extra_text:
        with open(path, "a", encoding="utf-8") as f:
            f.write(extra_text)
    return path


def _expect_config_error(path, words):
    """ternctl check and ternd --check-config exit 2 naming the file and each word."""
    for what, r in (("ternctl check", ternctl(["-c", path, "check"])),
                    ("ternd --check-config", run_ternd(["-c", path, "--check-config"]))):
        msg = r.stdout + r.stderr
        check(r.returncode == 2, "%s: expected exit 2; %s" % (what, out(r)))
        check(os.path.basename(path) in msg, "%s: message does not name the file; %s"
              % (what, out(r)))
        for w in words:
            check(w in msg, "%s: message does not name %r; %s" % (what, w, out(r)))


def test_config_unknown_key(ctx):
    path = _bad_config(ctx, "unknown-key", {"c2s": {"tern_no_such_key": "1"}})
    _expect_config_error(path, ["tern_no_such_key"])


def test_config_out_of_range(ctx):
    path = _bad_config(ctx, "range-resources", {"c2s": {"max_resources": 0}})
    _expect_config_error(path, ["max_resources"])
    path = _bad_config(ctx, "range-outbuf", {"limits": {"outbuf_size": 1024}})
    _expect_config_error(path, ["outbuf_size"])
    path = _bad_config(ctx, "range-ping", {"limits": {"idle_ping": 1}})
    _expect_config_error(path, ["idle_ping"])
    path = _bad_config(ctx, "not-a-number", {"limits": {"ping_timeout": "soon"}})
    _expect_config_error(path, ["ping_timeout"])


def test_config_syntax(ctx):
    path = _bad_config(ctx, "syntax", {}, "[c2s\nthis line has no equals sign\n")
    _expect_config_error(path, [])


def test_config_good(ctx):
    r = ternctl(["-c", ctx.t.conf, "check"])
    check(r.returncode == 0, "ternctl check of the running config: " + out(r))
    r = run_ternd(["-c", ctx.t.conf, "--check-config"])
    check(r.returncode == 0, "ternd --check-config of the running config: " + out(r))


def test_version(ctx):
    r = run_ternd(["--version"])
    check(r.returncode == 0 and re.search(r"\d+\.\d+", r.stdout),
          "ternd --version: " + out(r))
    r = ternctl(["--version"])
    check(r.returncode == 0 and re.search(r"\d+\.\d+", r.stdout),
          "ternctl --version: " + out(r))


TESTS = [
    ("adduser while ternd runs, then login works", test_adduser_login),
    ("adduser reads the password from stdin", test_adduser_stdin),
    ("adduser of an existing user exits 1 and keeps the password", test_adduser_existing),
    ("listusers with and without a domain", test_listusers_domain),
    ("passwd: only the new password works", test_passwd),
    ("deluser: login fails afterwards", test_deluser),
    ("a JID of an unhosted domain exits 2", test_unhosted_domain),
    ("usage errors exit 2", test_usage_errors),
    ("unknown config key exits 2 naming file and key", test_config_unknown_key),
    ("out-of-range config number exits 2 naming file and key", test_config_out_of_range),
    ("broken config syntax exits 2 naming the file", test_config_syntax),
    ("check of a good config exits 0", test_config_good),
    ("--version prints a version", test_version),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
