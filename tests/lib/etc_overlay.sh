# shellcheck shell=bash
# For tests that run the operations guide as typed: the script runs
# again in a private mount namespace whose /etc is an overlay, so what
# the guide writes under /etc lands in a directory of the test's, never
# the host's, and goes with it.
#
#   rc_etc_overlay "$0" "$@"    at the top of the script; afterwards
#                               $RC_ETC_WORK is a directory of the run's
rc_etc_overlay() {
	if [ -z "${RC_ETC_WORK:-}" ]; then
		local st=0
		RC_ETC_WORK=$(mktemp -d /tmp/rcetc.XXXXXX)
		mkdir -p "$RC_ETC_WORK/up" "$RC_ETC_WORK/wk"
		# Its files (a replication key among them) go also when the
		# test is stopped (meson's timeout sends TERM).
		trap 'rm -rf "$RC_ETC_WORK"' EXIT
		trap 'exit 143' TERM INT
		RC_ETC_WORK=$RC_ETC_WORK unshare --mount --propagation private "$@" || st=$?
		exit $st
	fi
	mount -t overlay overlay \
		-o "lowerdir=/etc,upperdir=$RC_ETC_WORK/up,workdir=$RC_ETC_WORK/wk" /etc
	# What the test starts must not take itself for the inner run.
	export -n RC_ETC_WORK
}
