#!/usr/bin/env python3
"""Write ringcached.8 or ringctl.8 from the program's own --help (and, for
ringcached, --print-reference), so the man page never drifts from the
binary. Usage: gen-man.py OUT NAME VERSION BINARY"""
import subprocess
import sys

out, name, version, binary = sys.argv[1:5]


def run(*args):
    return subprocess.run([binary, *args], check=True, capture_output=True,
                          text=True).stdout


def verbatim(text):
    """Preformatted roff: escape backslashes and line-leading . and '."""
    lines = []
    for line in text.rstrip("\n").split("\n"):
        line = line.replace("\\", "\\e")
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return ".nf\n" + "\n".join(lines) + "\n.fi\n"


def sh(title, body):
    return f".SH {title}\n{body}"


PAGES = {
    "ringcached": dict(
        summary="kernel-bypass UDP cache node (DPDK)",
        synopsis="\\fBringcached\\fR [\\fIOPTIONS\\fR] [\\fB\\-\\-\\fR "
                 "\\fIEAL-ARGS\\fR...]\n",
        description=(
            "ringcached serves the ringcache UDP protocol on a DPDK port: "
            "one poll-mode worker per NIC queue, each owning one partition "
            "of the key space, and a control core that runs the control "
            "socket (see \\fBringctl\\fR(8)) and the Prometheus endpoint.\n"
            ".PP\nOptions before \\fB\\-\\-\\fR are ringcached's; what follows "
            "is EAL's. With nothing after \\fB\\-\\-\\fR, \\fBdpdk.eal_args\\fR "
            "from the config file is used (as under systemd).\n"),
        extra=lambda: sh("SIGNALS", (
            ".TP\n.B SIGHUP\nRe-read the configuration file (and the "
            "\\fB\\-\\-set\\fR overrides), exactly like \\fBringctl config "
            "reload\\fR: runtime options take effect, others are logged as "
            "needing a restart; a file that does not parse changes "
            "nothing.\n"
            ".TP\n.B SIGTERM, SIGINT, SIGQUIT\nStop: workers finish their "
            "burst, the port is stopped and closed, the control socket "
            "removed. Exit status 0.\n")) +
            sh("NOTIFICATIONS", (
                "Under systemd (\\fBType=notify\\fR) ringcached sends "
                "READY=1 once the workers, the control socket and the "
                "metrics endpoint all serve, RELOADING=1 and READY=1 around "
                "a reload, and STOPPING=1 when it stops. The log line "
                "\\fBringcached: ready\\fR marks the same moment.\n")) +
            sh("EXIT STATUS", (
                "0 stopped cleanly, or \\fB\\-\\-check\\fR found the "
                "configuration valid; 1 the node could not start (one log "
                "line says why; nothing is left behind); 2 a configuration "
                "or usage error.\n")) +
            sh("CONFIGURATION", "Every option, its type, bounds and default "
               "(\\fBringcached \\-\\-print\\-reference\\fR):\n.PP\n" +
               verbatim(run("--print-reference"))),
        files=("/etc/ringcache/ringcache.conf", "the configuration",
               "/run/ringcache/ringcached.sock", "the control socket",
               "/var/lib/ringcache/", "replication state "
               "(\\fBrepl.state_file\\fR)"),
        see="\\fBringctl\\fR(8), \\fBsystemctl\\fR(1)"),
    "ringctl": dict(
        summary="drive a ringcached node through its control socket",
        synopsis="\\fBringctl\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR "
                 "[\\fIARGS\\fR]\n",
        description=(
            "ringctl sends one command to a running \\fBringcached\\fR(8) "
            "over its Unix control socket and prints the answer as a "
            "table, or as JSON with \\fB\\-\\-json\\fR. \\fBringctl "
            "\\fICOMMAND\\fB \\-\\-help\\fR prints one command's help.\n"),
        extra=lambda: "",
        files=("/run/ringcache/ringcached.sock", "the default control "
               "socket ($RINGCTL_SOCKET overrides it)"),
        see="\\fBringcached\\fR(8)"),
}

p = PAGES[name]
files = "".join(f".TP\n.I {f}\n{d}\n" for f, d in zip(p["files"][::2],
                                                       p["files"][1::2]))
page = (
    f'.TH {name.upper()} 8 "" "ringcache {version}" "System Administration"\n'
    + sh("NAME", f"{name} \\- {p['summary']}\n")
    + sh("SYNOPSIS", p["synopsis"])
    + sh("DESCRIPTION", p["description"])
    + sh("OPTIONS", "The program's \\fB\\-\\-help\\fR:\n.PP\n"
         + verbatim(run("--help")))
    + p["extra"]()
    + sh("FILES", files)
    + sh("SEE ALSO", p["see"] + "\n")
)
with open(out, "w") as f:
    f.write(page)
