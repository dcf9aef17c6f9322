#!/usr/bin/env python3
"""Metric names in the monitoring files (config/monitoring/): the Grafana
dashboard's panel and variable queries and the alert rules' expressions.

  promql_names.py names FILE...           every metric name used, one a line
  promql_names.py as-rules DASHBOARD OUT  the panels' queries as recording
                                          rules (JSON), for `promtool check
                                          rules` to parse them
  promql_names.py check SCRAPE FILE...    every name used is in the scrape
                                          (Prometheus text); exit 1 if not

Only the Python standard library: the rules file is read line by line
(each `expr:` on one line; a folded one is refused, not skipped)."""
import json
import re
import sys

# Series Prometheus makes itself for every target, not in any scrape.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "and", "or", "unless", "offset", "inf", "nan"}
# Grafana's variables, as a query would see them.
GRAFANA_VARS = [(re.compile(r"\$__(rate_)?interval|\$__range"), "5m"),
                (re.compile(r"\$\{?instance\}?"), ".*")]


def grafana(expr):
    for pat, rep in GRAFANA_VARS:
        expr = pat.sub(rep, expr)
    return expr


def names(expr):
    e = grafana(expr)
    e = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'', '""', e)  # strings
    e = re.sub(r"\[[^\]]*\]", "", e)           # ranges, subqueries
    e = re.sub(r"\{[^}]*\}", "", e)            # label matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", " ", e)            # label lists
    found = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        tok, before, after = m.group(0), e[:m.start()], e[m.end():]
        if tok in KEYWORDS or re.match(r"\s*\(", after):
            continue                            # function, aggregation
        if before and (before[-1].isdigit() or before[-1] == "."):
            continue                            # 1e9, 5m
        found.add(tok)
    return found


def dashboard_queries(path):
    d = json.load(open(path))
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))
    walk(d.get("panels", []))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = re.match(r"\s*label_values\(\s*(.*),\s*\w+\s*\)\s*$", q)
        if v.get("type") == "query":
            if not m:
                sys.exit(f"{path}: variable {v.get('name')}: only "
                         "label_values(QUERY, LABEL) is understood")
            out.append(("variable " + v["name"], m.group(1)))
    return out


def rule_queries(path):
    out = []
    for n, line in enumerate(open(path), 1):
        m = re.match(r"\s*(-\s*)?expr:\s*(.*?)\s*$", line)
        if not m:
            continue
        if m.group(2) in ("", "|", ">", "|-", ">-"):
            sys.exit(f"{path}:{n}: a folded expr; write it on one line")
        out.append((f"line {n}", m.group(2).strip("'\"")))
    return out


def queries(path):
    qs = dashboard_queries(path) if path.endswith(".json") \
        else rule_queries(path)
    if not qs:
        sys.exit(f"{path}: no queries found")
    return qs


def used(paths):
    u = {}
    for p in paths:
        for where, q in queries(p):
            for n in names(q):
                u.setdefault(n, []).append(f"{p} ({where})")
    return u


def scrape_names(path):
    s = set()
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        s.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return s


def main(argv):
    if len(argv) >= 2 and argv[0] == "names":
        for n in sorted(used(argv[1:])):
            print(n)
    elif len(argv) == 3 and argv[0] == "as-rules":
        rules = [{"record": f"dashboard:query_{i}", "expr": grafana(q)}
                 for i, (_, q) in enumerate(queries(argv[1]))]
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]},
                  open(argv[2], "w"), indent=1)
    elif len(argv) >= 3 and argv[0] == "check":
        have = scrape_names(argv[1])
        u = used(argv[2:])
        missing = {n: w for n, w in u.items()
                   if n not in have and n not in SYNTHETIC}
        for n, where in sorted(missing.items()):
            print(f"not in the scrape: {n}, used by {', '.join(where)}")
        print(f"{len(u)} metric names used, {len(u) - len(missing)} "
              f"in the scrape of {len(have)} names")
        return 1 if missing else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
