"""Check what ``make dist`` produced: one sdist and manylinux wheels only,
each wheel's compiled module without debug information and under the
size limit."""

import pathlib
import sys
import zipfile

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
        for info in modules:
            data = zf.read(info)
            print(f"{wheel.name}: {info.filename} {info.file_size / 1024:.0f} KiB")
            if info.file_size >= LIMIT:
                problems.append(f"{info.filename}: {info.file_size} bytes, "
                                f"limit {LIMIT}")
            if b".debug_info" in data:
                problems.append(f"{info.filename}: carries debug information")
if problems:
    sys.exit("make dist: " + "; ".join(problems))
