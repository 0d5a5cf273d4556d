#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# bench/syscalls.py — system calls per routed message at a fixed rate: the figure that
# decides CPU per message on a VM where a system call costs ~2 µs, and one that does not
# depend on how busy the machine is (unlike timings).
#
#   bench/syscalls.py --builddir BUILD [--rate 20000] [--seconds 5]
#
# Starts ternd like bench/compare does (its own loopback address and data dir, stopped by
# pid), creates the accounts, runs bench/loadgen at --rate (type headline: the routing
# path) and counts ternd's system calls with `perf stat` (tracepoints raw_syscalls and
# syscalls:sys_enter_*) for --seconds in the middle of the run. Prints one JSON object.
import argparse
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CALLS = ("poll", "epoll_wait", "recvfrom", "sendto", "read", "write", "fdatasync")


def load_compare():
    loader = importlib.machinery.SourceFileLoader("compare", os.path.join(HERE, "compare"))
    spec = importlib.util.spec_from_loader("compare", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--rate", type=float, default=20000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--type", default="headline")
    a = ap.parse_args()
    cmp = load_compare()
    builddir = os.path.abspath(a.builddir)
    tmp = tempfile.mkdtemp(prefix="tern-syscalls.")
    t = cmp.Ternd(tmp, builddir)
    t.start()
    try:
        base = [os.path.join(builddir, "bench", "loadgen"), "--host", t.addr, "--domain",
                "localhost", "--password", cmp.PASSWORD, "--json", "-q", "--users",
                str(2 * a.pairs), "--pairs", str(a.pairs), "--type", a.type]
        subprocess.run(base + ["--register", "--duration", "1"], check=True,
                       capture_output=True, timeout=300)
        run = subprocess.Popen(base + ["--rate", str(a.rate), "--warmup", "1", "--duration",
                                       str(a.seconds + 3), "--server-pid", str(t.pid())],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)  # logins and warmup
        events = ["raw_syscalls:sys_enter"] + ["syscalls:sys_enter_" + c for c in CALLS]
        st = subprocess.run(["perf", "stat", "-x", ",", "-p", str(t.pid())] +
                            sum([["-e", e] for e in events], []) +
                            ["--", "sleep", str(a.seconds)], capture_output=True, text=True)
        out, _ = run.communicate(timeout=600)
        res = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
        counts = {}
        for line in st.stderr.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[0].strip().isdigit():
                counts[re.sub(r"^(raw_)?syscalls:sys_enter_?", "", f[2]) or "all"] = int(f[0])
        msgs = a.rate * a.seconds
        print(json.dumps({
            "rate": a.rate, "seconds": a.seconds, "messages_in_window": msgs,
            "delivered_per_s": res["stanzas_per_second"], "latency_ms": res["latency_ms"],
            "server_cpu_us_per_msg": res["server"]["cpu_seconds"] / max(res["delivered"], 1)
            * 1e6,
            "syscalls_per_msg": {k: round(v / msgs, 3) for k, v in counts.items()}}))
    finally:
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
