#!/usr/bin/python3
"""bench/report.py: the JSON side of bench/run.sh (make bench), stdlib only.

  report.py record KEY=VALUE... [--bench F] [--bench-err F] [--proxy-err F] [--metrics F]
      print one JSON line for one measured run: the runner's own figures (KEY=VALUE, numbers
      parsed), wsgate-bench's --json object (null when it printed none), the loop histograms
      found in a /metrics scrape (wsgate only) and, when the run failed, the tails of
      wsgate-bench's and the proxy's stderr.
  report.py brief            < one line of the above: print a one-line summary
  report.py report --raw F --info F --nginx-conf F --haproxy-conf F --data-dir D
                   --plots-dir D --doc FILE
      medians and spreads per scenario and proxy, ratios wsgate/nginx and wsgate/HAProxy,
      wsgate's distance to the floor (wsgate/floor, per scenario), the
      Markdown section written into FILE between <!-- bench:begin --> and <!-- bench:end -->
      (added at the end under "## Proxy comparison (make bench)" if absent; nothing outside the
      markers is changed), gnuplot data files and D/charts.gp drawing PLOTS/latency.png and
      PLOTS/cpu.png.

Figures per run:
  rate      wsgate-bench messages.per_s (echoes inside the measured window / its length);
            for churn conns.opened_per_s
  p50, p99  wsgate-bench latency_us.p50 / p99 (round trip, microseconds)
  cpu       proxy utime+stime delta (/proc/PID/stat, every process of the proxy's process
            group, sampled just before wsgate-bench starts and just after it exits), divided by
            every message echoed during that time (messages.received_total: warm-up and the
            final drain included, as the CPU time is) or, for churn, by conns.opened
  rss       idle scenario: (RSS with the connections up - RSS of the fresh process) / conns
"""
import json
import math
import os
import re
import statistics
import sys

PROXIES = ["floor", "wsgate", "nginx", "haproxy"]
LABEL = {"wsgate": "wsgate", "nginx": "nginx", "haproxy": "HAProxy",
         "floor": "floor (io_uring relay)", "direct": "direct to wsgate-echo (no proxy)"}
SCENARIOS = ["1", "2", "3", "4", "5", "6"]
SHORT = {"1": "1: 100c 64B p1", "2": "2: 100c 64B p16", "3": "3: 10c 64KiB p4",
         "4": "4: 1000c 20k/s", "5": "5: idle", "6": "6: churn (per conn)"}
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SECTION = "## Proxy comparison (make bench)"


def num(v):
    for f in (int, float):
        try:
            return f(v)
        except ValueError:
            pass
    return v


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return [l.rstrip("\n") for l in f.readlines()[-n:]]
    except OSError:
        return []


def cmd_record(argv):
    rec, files = {}, {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            files[a[2:]] = argv[i + 1]
            i += 2
            continue
        k, _, v = a.partition("=")
        rec[k] = num(v) if k not in ("sc", "bench_args") else v
        i += 1
    bench = None
    if "bench" in files:
        try:
            with open(files["bench"]) as f:
                bench = json.loads(f.read())
        except (OSError, ValueError):
            bench = None
    rec["bench"] = bench
    loop = read_loop_hists(files.get("metrics", ""))
    if loop:
        rec["loop"] = loop
    failed = rec.get("bench_rc") != 0 or rec.get("alive") != 1 or bench is None
    if failed:
        rec["bench_err_tail"] = tail(files.get("bench-err", ""), 5)
        rec["proxy_err_tail"] = tail(files.get("proxy-err", ""), 15)
    print(json.dumps(rec, separators=(",", ":")))


LOOP_HISTS = ("wsgate_loop_turn_seconds", "wsgate_relay_delay_seconds")


def read_loop_hists(path):
    """{family: {"le": [bounds...], "cum": [cumulative counts...], "sum": s, "count": n}} from
    a Prometheus text scrape; {} when there is none."""
    out = {}
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return out
    for fam in LOOP_HISTS:
        h = {"le": [], "cum": [], "sum": 0.0, "count": 0}
        for m in re.finditer(r'^%s_bucket\{le="([^"]+)"\} (\S+)$' % fam, text, re.M):
            h["le"].append(float(m.group(1)))
            h["cum"].append(int(float(m.group(2))))
        for k in ("sum", "count"):
            m = re.search(r"^%s_%s (\S+)$" % (fam, k), text, re.M)
            if m:
                h[k] = float(m.group(1))
        if h["le"]:
            out[fam] = h
    return out


def hist_quantile(h, q):
    """The upper bound of the bucket that holds quantile q (seconds; inf above the last)."""
    n = h["cum"][-1] if h["cum"] else 0
    if n == 0:
        return None
    for le, c in zip(h["le"], h["cum"]):
        if c >= q * n:
            return le
    return float("inf")


def fmt_us(s):
    if s is None:
        return "-"
    if s == float("inf"):
        return "> 131 ms"
    us = s * 1e6
    return "≤ {:,.0f}".format(us) if us >= 1 else "≤ 1"


def loop_table(w, runs, info, present):
    """wsgate's loop histograms per scenario (summed over the scenario's runs)."""
    per = {}
    for r in runs:
        if r.get("proxy") != "wsgate" or not r.get("loop"):
            continue
        for fam, h in r["loop"].items():
            acc = per.setdefault(r["sc"], {}).setdefault(fam, None)
            if acc is None:
                per[r["sc"]][fam] = {"le": list(h["le"]), "cum": list(h["cum"]),
                                     "sum": h["sum"], "count": h["count"]}
            elif acc["le"] == h["le"]:
                acc["cum"] = [a + b for a, b in zip(acc["cum"], h["cum"])]
                acc["sum"] += h["sum"]
                acc["count"] += h["count"]
    if not per:
        return
    w("**wsgate's loop** (`wsgate_loop_turn_seconds`: the work of one loop turn, from the wait's "
      "return to the next submit; `wsgate_relay_delay_seconds`: from the turn that queued bytes "
      "for a connection to the submit of the send that carries them; scraped from /metrics at "
      "the end of each wsgate run, summed over the runs; µs, quantiles are bucket upper bounds, "
      "powers of 2). The whole run is included: connection setup, warm-up and close.")
    w("")
    w("| scenario | turns | turn mean | turn p50 | turn p99 | turn p99.9 | sends | delay mean "
      "| delay p50 | delay p99 | delay p99.9 |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in present:
        d = per.get(sc)
        if not d:
            continue
        row = []
        for fam in LOOP_HISTS:
            h = d.get(fam)
            if h is None or not h["count"]:
                row += ["-"] * 5
                continue
            row.append("{:,.0f}".format(h["count"]))
            row.append("%.1f" % (h["sum"] / h["count"] * 1e6))
            row += [fmt_us(hist_quantile(h, q)) for q in (0.5, 0.99, 0.999)]
        w("| %s: %s | %s |" % (sc, info.get("sc_name_" + sc, ""), " | ".join(row)))
    w("")


def run_ok(r):
    b = r.get("bench")
    return r.get("bench_rc") == 0 and r.get("alive") == 1 and b is not None and b.get("completed")


def figures(r):
    """The figures of one run, or None when the run failed."""
    if not run_ok(r):
        return None
    b = r["bench"]
    sc = r["sc"]
    cpu_s = r["cpu_ticks"] / r["clk_tck"]
    f = {}
    if sc == "5":
        conns = b["conns"]["opened"]
        if conns > 0 and r.get("rss_with_kb", 0) > 0:
            f["rss"] = (r["rss_with_kb"] - r["rss_before_kb"]) * 1024.0 / conns
        return f
    f["p50"] = b["latency_us"]["p50"]
    f["p99"] = b["latency_us"]["p99"]
    if sc == "6":
        f["rate"] = b["conns"]["opened_per_s"]
        denom = b["conns"]["opened"]
    else:
        f["rate"] = b["messages"]["per_s"]
        denom = b["messages"]["received_total"]
    if denom > 0:
        f["cpu"] = cpu_s * 1e6 / denom
    return f


def cmd_brief():
    r = json.loads(sys.stdin.readline())
    f = figures(r)
    if f is None:
        print("FAILED (wsgate-bench exit %s, proxy alive=%s)" % (r.get("bench_rc"), r.get("alive")))
    elif "rss" in f:
        print("%d B/conn (RSS %d -> %d KiB)" % (f["rss"], r["rss_before_kb"], r["rss_with_kb"]))
    else:
        print("%s/s p50 %s us p99 %s us, %s %s us/%s" % (
            fmt_rate(f["rate"]), fmt_lat(f["p50"]), fmt_lat(f["p99"]),
            "echo CPU" if r["proxy"] == "direct" else "CPU", fmt_cpu(f.get("cpu")),
            "conn" if r["sc"] == "6" else "msg"))


# ---------------------------------------------------------------- formatting

def fmt_rate(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt_lat(v):
    if v is None:
        return "-"
    return "{:,.0f}".format(v) if v >= 100 else "{:.1f}".format(v)


def fmt_cpu(v):
    if v is None:
        return "-"
    if v < 10:
        return "%.2f" % v
    if v < 100:
        return "%.1f" % v
    return "{:,.0f}".format(v)


def fmt_rss(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def cell(vals, fmt):
    """median (min-max) of the valid values; just the value when there is one."""
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med)
    return "%s (%s–%s)" % (fmt(med), fmt(min(vals)), fmt(max(vals)))


def read_info(path):
    info = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            info[k] = v
    return info


# ---------------------------------------------------------------- report

def cmd_report(opts):
    runs = []
    with open(opts["raw"]) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    info = read_info(opts["info"])
    # vals[(sc, proxy)][figure] -> list of per-run values
    vals, failures = {}, []
    for r in runs:
        key = (r["sc"], r["proxy"])
        d = vals.setdefault(key, {"rate": [], "p50": [], "p99": [], "cpu": [], "rss": [], "n": 0,
                                  "failed": 0})
        d["n"] += 1
        f = figures(r)
        if f is None:
            d["failed"] += 1
            failures.append(r)
            continue
        for k, v in f.items():
            d[k].append(v)

    def med(sc, proxy, k):
        d = vals.get((sc, proxy))
        if not d or not d[k]:
            return None
        return statistics.median(d[k])

    present = [sc for sc in SCENARIOS if any((sc, p) in vals for p in PROXIES)]
    out = []
    w = out.append
    quick = info.get("quick", "0") not in ("", "0")
    w(BEGIN)
    w("")
    w("_Written by `make bench%s` (`bench/run.sh`, `bench/report.py`) on %s; everything between "
      "the `bench:begin` and `bench:end` markers is regenerated by the next run._"
      % (" QUICK=1" if quick else "", info.get("started", "?")))
    w("")
    w("- **Machine**: %s, `nproc` = %s, %s; fd hard limit %s per process. A shared VM: other "
      "engineers' builds and tests were running on the same two CPUs (load average %s at the "
      "start, %s at the end), so every figure carries that noise. Compare the proxies with "
      "each other (they took turns run by run, under the same noise), not with other machines."
      % (info.get("cpu_model"), info.get("nproc"), info.get("kernel"), info.get("fd_hard"),
         info.get("load_start"), info.get("load_end")))
    w("- **Versions**: %s; %s; %s; %s; %s."
      % (info.get("wsgate_version"), info.get("nginx_version"), info.get("haproxy_version"),
         info.get("bench_version"), info.get("gnuplot_version")))
    w("- **Runs**: %s per cell%s; scenarios 1-4 measure %s after a %s warm-up, churn runs %s, "
      "the idle scenario holds its connections %s. Suite time %s s."
      % (info.get("runs"), " (QUICK=1: one run, short durations)" if quick else "",
         info.get("dur"), info.get("warm"), info.get("churn_dur"), info.get("idle_hold"),
         info.get("elapsed_s")))
    w("- **Placement**: each proxy (`wsgate --workers 1`, nginx with one worker, HAProxy with "
      "one thread, the floor with one thread) pinned to CPU %s; `wsgate-bench -t 1` and "
      "`wsgate-echo --workers 1` (the one backend of all four) pinned to CPU %s; loopback only. Each proxy is started fresh for "
      "each run and stopped after it." % (info.get("proxy_cpu"), info.get("load_cpu")))
    w("")
    w("How to read it: each cell is the median of the runs with the spread (min–max) in "
      "brackets. **msgs/s** is echoes received per second in the measured window (for churn: "
      "connections per second, each with one 64 B message). **p50/p99** is the round-trip "
      "latency of a message (µs, wsgate-bench's histogram; in scenario 4 measured from the "
      "scheduled send time). **CPU/msg** is the proxy's user+system CPU time (all its "
      "processes, from `/proc/PID/stat`, read just before and just after the wsgate-bench run, "
      "so warm-up, connection setup and the close are included) divided by every message "
      "echoed in that time (churn: per connection; `/proc` counts in 10 ms ticks). "
      "**RSS/conn** is (the proxy's RSS with the idle connections up, one second after the "
      "last one was accepted − its RSS fresh) / connections; it is user-space memory only "
      "(kernel socket buffers are not in RSS). In the closed-loop scenarios CPU %s carries "
      "wsgate-bench and wsgate-echo together, so msgs/s is partly capped by the load side; "
      "CPU/msg is the proxy's own cost and the figure to compare."
      % info.get("load_cpu"))
    w("")
    if info.get("idle_conns") == "9000":
        w("Scenario 5 uses **9,000** idle connections, not 10,000: a proxy holds two sockets per "
          "proxied connection (client and backend), and 10,000 of each plus listeners and "
          "internal fds do not fit in this machine's hard limit of %s fds per process, for "
          "any of the proxies. 9,000 is also the figure issue 3 asks for."
          % info.get("fd_hard"))
        w("")
    w("| scenario | proxy | msgs/s | p50 µs | p99 µs | CPU µs/msg | RSS B/conn |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for sc in present:
        order = (["direct"] if (sc, "direct") in vals else []) + PROXIES
        for p in order:
            d = vals.get((sc, p))
            if d is None:
                continue
            name = "%s: %s" % (sc, info.get("sc_name_" + sc, ""))
            if d["failed"] == d["n"]:
                w("| %s | %s | failed in all %d runs (see notes) | | | | |" % (name, LABEL[p], d["n"]))
                continue
            note = " (%d of %d runs failed, see notes)" % (d["failed"], d["n"]) if d["failed"] else ""
            cpu = cell(d["cpu"], fmt_cpu)
            if p == "direct" and cpu != "-":
                cpu += " (echo)"
            if sc == "5":
                w("| %s | %s%s | | | | | %s |" % (name, LABEL[p], note, cell(d["rss"], fmt_rss)))
            else:
                w("| %s | %s%s | %s | %s | %s | %s | |" % (
                    name, LABEL[p], note, cell(d["rate"], fmt_rate), cell(d["p50"], fmt_lat),
                    cell(d["p99"], fmt_lat), cpu))
    w("")
    w("Scenario 6's msgs/s column is connections per second and its CPU column is µs per "
      "connection. The direct rows are the baseline with no proxy: wsgate-echo's own CPU per "
      "message is shown there, and CPU %s is idle in them." % info.get("proxy_cpu"))
    w("")
    w("Ratios of the medians, **wsgate / nginx · wsgate / HAProxy**. Below 1 means wsgate's "
      "figure is lower: better for latency, CPU and memory, worse for msgs/s.")
    w("")
    def noisy(sc, proxy, k):  # max / min of the runs' values, 1 when fewer than two
        d = vals.get((sc, proxy))
        xs = [x for x in (d[k] if d else []) if x and x > 0]
        return max(xs) / min(xs) if len(xs) > 1 else 1.0

    marked = [False]
    table = []
    w = table.append
    w("| scenario | msgs/s | p50 | p99 | CPU/msg | RSS/conn |")
    w("|---|---:|---:|---:|---:|---:|")
    for sc in present:
        row = []
        for k in ("rate", "p50", "p99", "cpu", "rss"):
            a = med(sc, "wsgate", k)
            r = []
            for other in ("nginx", "haproxy"):
                x = fmt_ratio(a, med(sc, other, k))
                if x != "-" and max(noisy(sc, "wsgate", k), noisy(sc, other, k)) > 2:
                    x += "†"
                    marked[0] = True
                r.append(x)
            row.append("" if r == ["-", "-"] else "%s · %s" % tuple(r))
        w("| %s: %s | %s |" % (sc, info.get("sc_name_" + sc, ""), " | ".join(row)))
    w = out.append
    out.extend(table)
    w("")
    floor_table(w, present, info, med, noisy)
    loop_table(w, runs, info, present)
    if marked[0]:
        w("† the runs of one of the two proxies spread over more than 2× (max/min) for this "
          "figure: the ratio is within this machine's noise, read it as a tendency at most.")
        w("")
    # Issue 3's aims, from this run's figures.
    aims = []
    for sc in ("1", "2"):
        a, n = med(sc, "wsgate", "cpu"), med(sc, "nginx", "cpu")
        if a is not None and n is not None:
            aims.append("scenario %s: wsgate %s µs vs nginx %s µs of CPU per message, ratio %s "
                        "(aim ≤ 0.50: %s)" % (sc, fmt_cpu(a), fmt_cpu(n), fmt_ratio(a, n),
                                              "met" if a / n <= 0.5 else "not met"))
    rss = med("5", "wsgate", "rss")
    if rss is not None:
        aims.append("idle: %s B of user-space memory per proxied connection at %s connections "
                    "(aim < 2,048 B: %s)" % (fmt_rss(rss), "{:,}".format(int(info.get("idle_conns", 0))),
                                             "met" if rss < 2048 else "not met"))
    if aims:
        w("Issue 3's aims, measured here: " + "; ".join(aims) + ".")
        w("")
    w("![p50 and p99 latency per scenario and proxy](bench/latency.png)")
    w("")
    w("![proxy CPU time per message](bench/cpu.png)")
    w("")
    if failures:
        w("Failed runs (left out of the medians):")
        w("")
        for r in failures:
            w("- scenario %s, %s, run %s: wsgate-bench exit %s, proxy %s." % (
                r["sc"], LABEL.get(r["proxy"], r["proxy"]), r.get("run"), r.get("bench_rc"),
                "still running" if r.get("alive") == 1 else "gone"))
            for label, key in (("wsgate-bench stderr", "bench_err_tail"),
                               ("proxy stderr", "proxy_err_tail")):
                lines = [l for l in r.get(key, []) if l.strip()]
                if lines:
                    w("  %s: `%s`" % (label, " / ".join(l.replace("`", "'") for l in lines[-5:])))
        w("")
    w("Commands (ports are picked at random below 32768 each run; `$TMP` is the run's temporary "
      "directory):")
    w("")
    w("```sh")
    for k in ("cmd_echo", "cmd_floor", "cmd_wsgate", "cmd_nginx", "cmd_haproxy"):
        w(info.get(k, ""))
    for sc in SCENARIOS:
        w("%s %s ws://127.0.0.1:PORT/    # scenario %s" % (info.get("cmd_bench"),
                                                         info.get("sc_args_" + sc), sc))
    w("```")
    w("")
    for title, key in (("nginx.conf", "nginx-conf"), ("haproxy.cfg", "haproxy-conf")):
        with open(opts[key]) as f:
            text = f.read().rstrip("\n")
        w("<details><summary>%s</summary>" % title)
        w("")
        w("```")
        w(text)
        w("```")
        w("")
        w("</details>")
        w("")
    w(END)
    write_doc(opts["doc"], "\n".join(out))
    write_charts(opts, info, present, med)


def floor_table(w, present, info, med, noisy):
    """wsgate's distance to the floor (wsgate-floor: the same ring setup, no parsing), per
    scenario: the ratio wsgate / floor of each figure's medians."""
    if not any(med(sc, "floor", k) is not None for sc in present
               for k in ("rate", "cpu", "rss")):
        return
    w("**Distance to the floor**, wsgate / floor (`wsgate-floor`, bench/floor_relay.c: an "
      "io_uring byte relay with wsgate's ring setup and batching that parses nothing, the least "
      "a proxy costs on this kernel and machine). CPU/msg 1.30 means wsgate spends 30% more "
      "CPU per message than the floor; msgs/s below 1 means fewer messages per second.")
    w("")
    w("| scenario | msgs/s | p50 | p99 | CPU/msg | RSS/conn |")
    w("|---|---:|---:|---:|---:|---:|")
    for sc in present:
        row = []
        for k in ("rate", "p50", "p99", "cpu", "rss"):
            x = fmt_ratio(med(sc, "wsgate", k), med(sc, "floor", k))
            if x != "-" and max(noisy(sc, "wsgate", k), noisy(sc, "floor", k)) > 2:
                x += "†"
            row.append("" if x == "-" else x)
        w("| %s: %s | %s |" % (sc, info.get("sc_name_" + sc, ""), " | ".join(row)))
    w("")
    a, f = med("2", "wsgate", "cpu"), med("2", "floor", "cpu")
    if a is not None and f:
        w("Issue 11's aim for scenario 2 (CPU per message within 10%% of the floor): wsgate "
          "%s µs, floor %s µs, ratio %s (%s)." % (fmt_cpu(a), fmt_cpu(f), fmt_ratio(a, f),
                                                  "met" if a / f <= 1.10 else "not met"))
        w("")


def write_doc(path, block):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END, a) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + SECTION + "\n\n" + block + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_charts(opts, info, present, med):
    dd, pd = opts["data-dir"], opts["plots-dir"]

    def v(x):
        return "NaN" if x is None else "%.6g" % x

    lat_sc = [sc for sc in present if sc != "5"]
    with open(os.path.join(dd, "latency.dat"), "w") as f:
        f.write("# scenario " + " ".join("%s_p50 %s_p99" % (p, p) for p in PROXIES) + "\n")
        for sc in lat_sc:
            f.write('"%s" %s\n' % (SHORT[sc].replace(" (per conn)", ""), " ".join(
                "%s %s" % (v(med(sc, p, "p50")), v(med(sc, p, "p99"))) for p in PROXIES)))
    with open(os.path.join(dd, "cpu.dat"), "w") as f:
        f.write("# scenario " + " ".join(PROXIES) + "\n")
        for sc in lat_sc:
            f.write('"%s" %s\n' % (SHORT[sc], " ".join(v(med(sc, p, "cpu")) for p in PROXIES)))
    lat_vals = [med(sc, p, k) for sc in lat_sc for p in PROXIES for k in ("p50", "p99")]
    cpu_vals = [med(sc, p, "cpu") for sc in lat_sc for p in PROXIES]

    def lo(xs):  # a power of ten below the smallest bar, so that every bar shows
        xs = [x for x in xs if x]
        return 10 ** math.floor(math.log10(min(xs) / 1.5)) if xs else 0.1

    def hi(xs):  # room above the tallest bar for its value label
        xs = [x for x in xs if x]
        return max(xs) * 2.5 if xs else 10

    quick = info.get("quick", "0") not in ("", "0")
    sub = "%s, median of %s run%s%s; %s" % (
        info.get("started", "")[:10], info.get("runs"), "" if info.get("runs") == "1" else "s",
        " (QUICK)" if quick else "", re.sub(r"\s+", " ", info.get("cpu_model", "")))
    colors = {"wsgate": ("#1f4e9c", "#8fb0e6"), "nginx": ("#2b7a2b", "#9fd49f"),
              "haproxy": ("#b22222", "#f0a0a0"), "floor": ("#555555", "#bbbbbb")}
    lat_plot = []
    for i, p in enumerate(PROXIES):
        lat_plot.append("'%s' using %d:xtic(1) title '%s p50' lc rgb '%s'" % (
            "latency.dat", 2 + 2 * i, LABEL[p], colors[p][0]))
        lat_plot.append("'' using %d title '%s p99' lc rgb '%s'" % (3 + 2 * i, LABEL[p], colors[p][1]))
    cpu_plot = []
    for i, p in enumerate(PROXIES):
        cpu_plot.append("'cpu.dat' using %d:xtic(1) title '%s' lc rgb '%s'" % (2 + i, LABEL[p],
                                                                             colors[p][0]))
    for i, p in enumerate(PROXIES):
        # Clustered bars (gap 1): each is 1 / (N + 1) wide, centred around the tick.
        off = (i - (len(PROXIES) - 1) / 2.0) / (len(PROXIES) + 1)
        cpu_plot.append("'cpu.dat' using ($0%+.2f):%d:(sprintf('%%.3g', $%d)) with labels "
                        "offset 0,0.7 font ',8' notitle" % (off, 2 + i, 2 + i))
    gp = """# generated by bench/report.py
set datafile missing 'NaN'
set terminal pngcairo size 1100,560 font 'DejaVu Sans,10'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border rgb '#333333'
set boxwidth 0.9
set grid ytics
set logscale y
set key outside bottom center horizontal
cd '%(dd)s'
set output '%(pd)s/latency.png'
set title "Round-trip latency p50 / p99 per scenario, floor, wsgate, nginx, HAProxy (lower is better)\\n{/=9 %(sub)s}"
set ylabel 'latency, microseconds (log scale)'
set yrange [%(lat_lo)g:%(lat_hi)g]
plot %(lat)s
set output '%(pd)s/cpu.png'
set title "Proxy CPU time per message (churn: per connection), user+system (lower is better)\\n{/=9 %(sub)s}"
set ylabel 'CPU microseconds (log scale)'
set yrange [%(cpu_lo)g:%(cpu_hi)g]
plot %(cpu)s
""" % {"dd": dd, "pd": pd, "sub": sub.replace("'", ""), "lat": ", \\\n     ".join(lat_plot),
       "cpu": ", \\\n     ".join(cpu_plot),
       "lat_lo": lo(lat_vals), "lat_hi": hi(lat_vals), "cpu_lo": lo(cpu_vals), "cpu_hi": hi(cpu_vals)}
    with open(os.path.join(dd, "charts.gp"), "w") as f:
        f.write(gp)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "record":
        cmd_record(argv)
    elif cmd == "brief":
        cmd_brief()
    elif cmd == "report":
        opts = {}
        for i in range(0, len(argv), 2):
            opts[argv[i].lstrip("-")] = argv[i + 1]
        cmd_report(opts)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
