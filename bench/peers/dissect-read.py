"""Dissect as its users run it: dissect.target opens the top of the chain in userspace (vmdk, MBR,
NTFS and ext4 parsers all in Python), then one file is read from whichever filesystem holds it.

    dissect-read.py first <top> <file>   prints the file's text (timed from outside: start to first file)
    dissect-read.py read <top> <file>    reads the file in 1 MiB pieces and prints
                                         {"bytes": N, "seconds": S} for the read alone
"""

import json
import sys
import time

from dissect.target import Target

CHUNK = 1 << 20


def open_in_any_filesystem(target, name):
    for filesystem in target.filesystems:
        path = filesystem.path(name)
        if path.exists():
            return path
    sys.exit(f"dissect-read: {name} is in none of the {len(target.filesystems)} filesystems found")


def main(mode, top, name):
    path = open_in_any_filesystem(Target.open(top), name)
    if mode == "first":
        sys.stdout.write(path.read_text())
        return
    started = time.monotonic()
    count = 0
    with path.open() as f:
        while chunk := f.read(CHUNK):
            count += len(chunk)
    print(json.dumps({"bytes": count, "seconds": time.monotonic() - started}))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("first", "read"):
        sys.exit("usage: dissect-read.py first|read <top> <file>")
    main(*sys.argv[1:])
