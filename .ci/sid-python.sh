#!/bin/sh
# (Copied into the project from the team's shared tools; README, "Interpreters", says how it is used.)
# sid-python.sh: real CPython 3.14 and 3.15 (Debian sid's python3.14 / python3.15 packages) runnable
# from this Debian bookworm host, without a chroot, at
#     /opt/sid-root/usr/bin/python3.14   /opt/sid-root/usr/bin/python3.15
# How: mmdebstrap's "extract" variant unpacks the two interpreters, their -venv (ensurepip) packages and
# their library closure (sid's glibc included) into /opt/sid-root; no maintainer script runs, the host's
# apt sources and packages are untouched (only mmdebstrap and patchelf are installed, from bookworm).
# patchelf points each interpreter's ELF interpreter at the root's ld-linux and its DT_RPATH at the
# root's lib dir; DT_RPATH of the executable also covers lib-dynload's dlopen()ed modules (ssl,
# ctypes, sqlite3...), so no host library is loaded. sys.executable is the patched binary itself, so
# spawn/forkserver children (which exec sys.executable) work. Absolute symlinks inside the root are
# re-pointed into it; the stdlib is byte-compiled (the packages' postinst would have done that).
# Idempotent: a run that finds both interpreters patched and working only re-verifies them.
# Time: 20-70 s on a fresh host (measured 17 s and 64 s; ~100 MB download), ~1 s when already set up.
# Usage: sh sid-python.sh [ROOT]        (ROOT defaults to /opt/sid-root; must run as root)
#        VERSIONS="3.13 3.14 3.15" sh sid-python.sh     (other sid interpreters too; default 3.14 3.15)
set -eu
ROOT=${1:-/opt/sid-root}
VERSIONS=${VERSIONS:-3.14 3.15}
LIB=$ROOT/usr/lib/x86_64-linux-gnu

command -v mmdebstrap >/dev/null && command -v patchelf >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mmdebstrap patchelf

ok() { # $1: version; true when the interpreter is patched and runs
    [ -x "$ROOT/usr/bin/python$1" ] &&
        [ "$(patchelf --print-interpreter "$ROOT/usr/bin/python$1")" = "$LIB/ld-linux-x86-64.so.2" ] &&
        "$ROOT/usr/bin/python$1" -c 'import ctypes, ssl, multiprocessing' 2>/dev/null
}

need=
for v in $VERSIONS; do ok $v || need=1; done
if [ -n "$need" ]; then
    # The Debian archive this machine already uses (its apt sources), for sid's packages.
    MIRROR=${MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)}
    [ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$MIRROR" ] || { echo "sid-python.sh: no Debian archive in the apt sources; set MIRROR=<archive URL>" >&2; exit 2; }
    rm -rf "$ROOT.new"
    # The mirror may serve a snapshot whose Release file is past Valid-Until; that is not an error here.
    mmdebstrap --mode=root --variant=extract --aptopt='Acquire::Check-Valid-Until "false"' \
        --include="$(for v in $VERSIONS; do printf 'python%s,python%s-venv,' $v $v; done)" \
        sid "$ROOT.new" "deb $MIRROR sid main"
    L=$ROOT.new/usr/lib/x86_64-linux-gnu
    for v in $VERSIONS; do
        # Patched for their final place ($LIB), so run them from there only after the move below.
        patchelf --set-interpreter "$LIB/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$LIB" \
            "$ROOT.new/usr/bin/python$v"
    done
    find "$ROOT.new/usr" "$ROOT.new/etc" -type l -lname '/*' | while read -r l; do
        ln -sfn "$ROOT$(readlink "$l")" "$l"
    done
    rm -rf "$ROOT"
    mv "$ROOT.new" "$ROOT"
    for v in $VERSIONS; do
        "$ROOT/usr/bin/python$v" -m compileall -q -j 2 "$ROOT/usr/lib/python$v" >/dev/null
    done
fi

# Verify: version, ctypes, ssl, default start method, a child under each start method, shared memory.
# (A file, not stdin: spawn children re-import the main module from its path.)
CHECK=$(mktemp -d)
trap 'rm -rf "$CHECK"' EXIT
cat >"$CHECK/check.py" <<'PY'
import sys, ctypes, ssl, hashlib, multiprocessing as mp
from multiprocessing import shared_memory
def child(q):
    q.put((mp.current_process().name, sys.executable))
if __name__ == "__main__":
    assert ctypes.CDLL(None).getpid() > 0 and hashlib.sha256(b"").hexdigest()
    out = [sys.version.split()[0], "default=" + mp.get_start_method(), ssl.OPENSSL_VERSION.split()[1]]
    for m in ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(m)
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        name, exe = q.get(timeout=60)
        p.join()
        assert p.exitcode == 0 and exe == sys.executable, (m, p.exitcode, exe)
        out.append(m + "=ok")
    s = shared_memory.SharedMemory(create=True, size=8)
    s.buf[0] = 7
    t = shared_memory.SharedMemory(name=s.name)
    assert t.buf[0] == 7
    t.close(); s.close(); s.unlink()
    out.append("shared_memory=ok")
    print(sys.executable, *out)
PY
for v in $VERSIONS; do "$ROOT/usr/bin/python$v" -I "$CHECK/check.py"; done
