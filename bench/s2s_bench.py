#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# bench/s2s_bench.py — stanzas/s over one s2s link: two ternds (a.bench, b.bench), each on
# its own loopback address, found through a loopback dnsmasq (SRV + A), and bench/loadgen
# with --host2: every pair has one session on each server, so every message crosses the link.
# The link is TLS: certificates from a throwaway CA (SASL EXTERNAL), or with --dialback
# self-signed certificates, require_tls = false and dialback (ternd still offers and uses
# STARTTLS on s2s; it has no switch for a plaintext link). Stops what it started, by pid.
#
#   /usr/bin/python3 bench/s2s_bench.py --builddir /tmp/s2sb [--dialback] [--pairs 50]

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def proc_cpu(pid):
    """utime + stime of a process in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--dialback", action="store_true",
                    help="self-signed certificates and dialback instead of a CA and SASL EXTERNAL")
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--type", default="chat",
                    help="message type: chat (archived by XEP-0313 on both servers) or "
                    "headline (never archived: the link alone)")
    args = ap.parse_args()
    builddir = os.path.abspath(args.builddir)
    os.environ["TERN_BUILDDIR"] = builddir
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    from ternlib import Dnsmasq, TestCA, loopback_net, port_on, s2s_links, s2s_ternd  # noqa: E402

    A, B = "a.bench", "b.bench"
    net = loopback_net()
    addr = {A: net + "2", B: net + "3"}
    top = tempfile.mkdtemp(prefix="tern-s2s-bench-")
    tempfile.tempdir = top  # the ternds' folders below ours
    dns, ternds = None, {}
    try:
        ports = {d: port_on(addr[d], 5269) for d in (A, B)}
        srv = [("_xmpp-server._tcp." + d, d, ports[d]) for d in (A, B)]
        dns = Dnsmasq(top, srv, [(d, addr[d]) for d in (A, B)])
        common = {"server": {"log_level": "warning"},
                  "c2s": {"require_tls": False, "allow_register": True,
                          "register_interval": 0}}
        for d in (A, B):
            extra = json.loads(json.dumps(common))
            if args.dialback:
                extra["s2s"] = {"require_tls": False}
                ternds[d] = s2s_ternd(d, addr[d], ports[d], dns.servers, extra=extra)
            else:
                if not hasattr(main, "ca"):
                    main.ca = TestCA(os.path.join(top, "ca"))
                cert = main.ca.issue(d, os.path.join(top, "issued"))
                ternds[d] = s2s_ternd(d, addr[d], ports[d], dns.servers, cert, main.ca.pem,
                                      extra=extra)
        for t in ternds.values():
            t.start()
        ta, tb = ternds[A], ternds[B]
        cmd = [os.path.join(builddir, "bench", "loadgen"),
               "--host", ta.host, "--port", str(ta.port), "--domain", A,
               "--host2", tb.host, "--port2", str(tb.port), "--domain2", B,
               "--register", "--pairs", str(args.pairs), "--duration", str(args.duration),
               "--tls", "none", "--json", "--quiet", "--type", args.type,
               "--server-pid", str(ta.proc.pid)]  # window CPU of a.bench's ternd
        print("# " + " ".join(cmd), flush=True)
        cpu0 = {d: proc_cpu(t.proc.pid) for d, t in ternds.items()}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 300)
        cpu1 = {d: proc_cpu(t.proc.pid) for d, t in ternds.items()}
        sys.stderr.write(r.stderr)
        print(r.stdout.strip(), flush=True)
        links = s2s_links(ta) + s2s_links(tb)
        for row in links:
            print("# link on %s: %s" % (row["local"], " ".join("%s=%s" % kv for kv in
                                                             row.items())))
        out = {"s2s_auth": "dialback" if args.dialback else "sasl-external", "type": args.type,
               "loadgen_rc": r.returncode,
               "ternd_cpu_seconds_total": {d: round(cpu1[d] - cpu0[d], 2) for d in ternds}}
        try:
            res = json.loads(r.stdout)
            out.update({k: res.get(k) for k in ("stanzas_per_second", "delivered", "sent",
                                               "undelivered", "errors", "setup_seconds")})
            out["latency_ms"] = res.get("latency_ms")
            out["a_window_cpu_seconds"] = (res.get("server") or {}).get("cpu_seconds")
        except ValueError:
            pass
        print("# summary: " + json.dumps(out), flush=True)
        if r.returncode != 0:
            for t in ternds.values():
                print("# ---- %s log tail\n# " % t.domain + t.log_tail(40).replace("\n", "\n# "))
        return r.returncode
    finally:
        for t in ternds.values():
            t.cleanup()
        if dns:
            dns.stop()
        if not os.environ.get("TERN_KEEP_TMP"):
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
