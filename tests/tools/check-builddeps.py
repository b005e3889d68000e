#!/usr/bin/env python3
"""Does debian/control's Build-Depends name everything the package build uses?

A clean build room (sbuild, a minimal chroot) holds only the Essential
packages, build-essential, the Build-Depends and what they depend on. This
builds the package here under strace, maps every file the build executed or
opened to its package (dpkg -S), and asks dpkg-checkbuilddeps whether those
packages are all installed in a dpkg database cut down to that room: a
header, library or tool from a package the room would lack is named, and the
exit status is 1.

Usage: tests/tools/check-builddeps.py [-v] [--control FILE] [--trace FILE] [--keep-trace FILE]
  -v                 list each package the build used, with one file of it
  --control FILE     the control file to judge (default debian/control)
  --trace FILE       reuse a trace an earlier run kept instead of building
  --keep-trace FILE  keep this run's trace there
Run as root or not; needs strace, dpkg-dev and the build's packages installed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# the tree this file lives in, two levels up (tests/tools/)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def traced_build(trace):
    """dpkg-buildpackage -b on a copy of the tree, every open/exec traced."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "libreuse")
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
            ".git", "build", "build-*"))
        r = subprocess.run(["strace", "-f", "-z", "-qq", "-o", trace,
                            "-e", "trace=execve,open,openat",
                            "dpkg-buildpackage", "-b", "-us", "-uc", "-d"],
                           cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, check=False)
        if r.returncode:
            sys.stdout.write(r.stdout[-4000:])
            sys.exit("check-builddeps: the build failed (exit %d)" % r.returncode)


def used_files(trace):
    """Programs executed, and files opened without O_CLOEXEC: what the
    compiler, assembler and linker read as input. The dynamic loader, dlopen
    (ld loads every plugin in bfd-plugins) and perl open with O_CLOEXEC; what
    they load comes with the programs' own packages or is optional."""
    pat = re.compile(r'(execve\(|open\(|openat\(AT_FDCWD, )"(/[^"]+)"([^)]*)')
    files = set()
    with open(trace, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = pat.search(line)
            if not m or (m.group(1) != "execve(" and "O_CLOEXEC" in m.group(3)):
                continue
            p = os.path.normpath(m.group(2))
            if p.startswith(("/proc/", "/sys/", "/dev/", "/tmp/", "/etc/", "/var/", "/run/")):
                continue
            if os.path.isfile(p):
                files.add(p)
    return files


def search(paths):
    """path -> packages shipping it, by one dpkg-query -S for all paths."""
    found = {}
    if not paths:
        return found
    r = subprocess.run(["dpkg-query", "-S", *paths], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, check=False)
    for ln in r.stdout.splitlines():
        if ln.startswith("diversion by ") or ": " not in ln:
            continue
        names, path = ln.split(": ", 1)
        if path in paths:
            found.setdefault(path, []).extend(n.split(":")[0] for n in names.split(", "))
    return found


def twin(path):
    """/usr/lib/x -> /lib/x: dpkg may know a /usr-merged file by either name."""
    return re.sub(r"^/usr/(bin|sbin|lib|lib32|lib64|libx32)/", r"/\1/", path)


def owners(files):
    """package -> a file of it; files no package ships. A symlink is looked
    up as spelt first (libseccomp.so is libseccomp-dev's, its target is not)."""
    pkgs, unowned = {}, []
    left = {p: p for p in files}
    for spell in (lambda p: p, twin, os.path.realpath,
                  lambda p: twin(os.path.realpath(p))):
        names = {p: spell(p) for p in left}
        found = search(sorted(set(names.values())))
        for p, q in names.items():
            for n in found.get(q, []):
                pkgs.setdefault(n, p)
        left = {p: p for p in left if names[p] not in found}
    unowned = sorted(left)
    return pkgs, unowned


def installed():
    """name -> (depends text, provides list, essential, status stanza)."""
    out = subprocess.run(["dpkg-query", "-W", "-f",
                          "${Package}\t${db:Status-Abbrev}\t${Pre-Depends}, ${Depends}"
                          "\t${Provides}\t${Essential}\n"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    db = {}
    for line in out.splitlines():
        name, st, deps, prov, ess = line.split("\t")
        if st.startswith("ii"):
            db[name] = (deps, [p.split("(")[0].strip() for p in prov.split(",") if p.strip()],
                        ess == "yes")
    return db


def clauses(text):
    """'a (>= 1) | b, c:any' -> [['a', 'b'], ['c']]"""
    out = []
    for c in text.split(","):
        alts = [re.split(r"[\s(:\[<]", a.strip(), maxsplit=1)[0] for a in c.split("|")]
        alts = [a for a in alts if a]
        if alts:
            out.append(alts)
    return out


def room(db, roots):
    """The installed packages a minimal room with roots (and Essential) holds."""
    providers = {}
    for name, (_, prov, _) in db.items():
        for v in prov:
            providers.setdefault(v, []).append(name)
    todo = [[r] for r in roots] + [[n] for n, v in db.items() if v[2]]
    have = set()
    while todo:
        alts = todo.pop()
        pick = None
        for a in alts:   # apt takes the first alternative it can
            if a in have or a in db:
                pick = a
                break
            if a in providers:
                pick = sorted(providers[a])[0]
                break
        if pick is None or pick in have:
            continue
        have.add(pick)
        todo.extend(clauses(db[pick][0]))
    return have


def status_of(names, path):
    """The host's dpkg status stanzas of names only."""
    with open("/var/lib/dpkg/status", encoding="utf-8") as f:
        stanzas = f.read().split("\n\n")
    with open(path, "w", encoding="utf-8") as out:
        for s in stanzas:
            m = re.match(r"Package: (\S+)", s)
            if m and m.group(1) in names and "\nStatus: install ok installed" in s:
                out.write(s.strip("\n") + "\n\n")


def build_depends(control):
    with open(control, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^Build-Depends:(.*(?:\n[ \t].*)*)", text, re.M)
    return m.group(1).replace("\n", " ") if m else ""


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--control", default=os.path.join(ROOT, "debian/control"))
    ap.add_argument("--trace")
    ap.add_argument("--keep-trace")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        trace = a.trace
        if not trace:
            trace = a.keep_trace or os.path.join(tmp, "trace")
            traced_build(trace)
        files = used_files(trace)
        pkgs, unowned = owners(files)
        db = installed()
        roots = ["build-essential"] + [alts[0] for alts in clauses(build_depends(a.control))]
        have = room(db, roots)
        os.makedirs(os.path.join(tmp, "admin"))
        status_of(have, os.path.join(tmp, "admin/status"))
        need = sorted(pkgs)
        r = subprocess.run(["dpkg-checkbuilddeps", "--admindir=" + os.path.join(tmp, "admin"),
                            "-d", ", ".join(need), a.control],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           check=False)
        print("check-builddeps: the build used %d files of %d packages; a clean room "
              "from %s holds %d packages" % (len(files), len(pkgs), a.control, len(have)))
        if a.verbose:
            for n in need:
                print("  %-28s %s%s" % (n, pkgs[n], "" if n in have else "  (not in the room)"))
        for p in unowned:
            print("check-builddeps: note: %s belongs to no package" % p)
        if r.returncode:
            sys.stdout.write(r.stdout)
            missing = [p for p in need if p not in have]
            for p in missing:
                print("check-builddeps: %s (for %s) is not in the room: add it, or what "
                      "depends on it, to Build-Depends" % (p, pkgs[p]))
            return 1
        print("check-builddeps: ok")
        return 0


if __name__ == "__main__":
    sys.exit(main())
