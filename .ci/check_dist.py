"""Check what ``make dist`` produced: one sdist and manylinux wheels only,
each wheel's compiled module without debug information and under the
size limit, its classifiers all known to PyPI; and, given the output of ``cibuildwheel
--print-build-identifiers``, that the release matrix is CPython 3.10-3.14
on manylinux and musllinux, x86_64 and aarch64, with no free-threaded
build."""

import email
import pathlib
import sys
import zipfile

from trove_classifiers import classifiers as KNOWN_CLASSIFIERS

LIMIT = 400 * 1024

dist = pathlib.Path(sys.argv[1])
sdists = list(dist.glob("*.tar.gz"))
wheels = list(dist.glob("*.whl"))
problems = []
if len(sdists) != 1:
    problems.append(f"expected one sdist, found {[p.name for p in sdists]}")
if not wheels:
    problems.append("no wheel")
for wheel in wheels:
    if "manylinux" not in wheel.name:
        problems.append(f"{wheel.name}: not a manylinux wheel")
    with zipfile.ZipFile(wheel) as zf:
        modules = [i for i in zf.infolist() if i.filename.endswith(".so")]
        if len(modules) != 1:
            problems.append(f"{wheel.name}: expected one compiled module, "
                            f"found {[i.filename for i in modules]}")
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        unknown = [c for c in email.message_from_bytes(zf.read(meta))
                   .get_all("Classifier", []) if c not in KNOWN_CLASSIFIERS]
        if unknown:
            problems.append(f"{wheel.name}: classifiers PyPI rejects: {unknown}")
        for info in modules:
            data = zf.read(info)
            print(f"{wheel.name}: {info.filename} {info.file_size / 1024:.0f} KiB")
            if info.file_size >= LIMIT:
                problems.append(f"{info.filename}: {info.file_size} bytes, "
                                f"limit {LIMIT}")
            if b".debug_info" in data:
                problems.append(f"{info.filename}: carries debug information")
if len(sys.argv) > 2:
    identifiers = set(pathlib.Path(sys.argv[2]).read_text().split())
    expected = {f"cp3{minor}-{libc}_{arch}" for minor in range(10, 15)
                for libc in ("manylinux", "musllinux")
                for arch in ("x86_64", "aarch64")}
    if identifiers != expected:
        problems.append("cibuildwheel would build %s; expected %s" % (
            sorted(identifiers - expected) or "nothing extra",
            sorted(expected - identifiers) or "nothing missing"))
    else:
        print(f"cibuildwheel: the {len(identifiers)} builds expected")
if problems:
    sys.exit("make dist: " + "; ".join(problems))
