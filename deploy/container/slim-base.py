#!/usr/bin/env python3
"""Cut a debootstrapped Debian root down to a runtime base for Barista.

    slim-base.py ROOTFS OUT

OUT gets the files of the packages a glibc program needs (libc6, libgcc-s1),
the release files (base-files), a passwd and group with a non-root user
(65532, `nonroot`, as distroless names it), and /tmp. No shell, no package
manager: nothing in OUT can run but the program put there. Then:

    tar -C OUT -c . | podman import - NAME
"""
import os
import shutil
import sys

PACKAGES = ["libc6", "libgcc-s1", "base-files"]


def main(root, out):
    root = os.path.realpath(root)
    os.makedirs(out)
    out = os.path.realpath(out)

    def place(rel):
        """Copy ROOT/REL (a file, a link, or a directory without its contents)."""
        src, dst = os.path.join(root, rel), os.path.join(out, rel)
        if os.path.lexists(dst):
            return
        parent = os.path.dirname(rel)
        if parent:
            place(parent)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            shutil.copystat(src, dst)
        else:
            shutil.copy2(src, dst)

    # Merged /usr: the top-level links (bin, lib, lib64, sbin) stay links.
    for top in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(os.path.join(root, top)):
            place(top)
    info = os.path.join(root, "var/lib/dpkg/info")
    for package in PACKAGES:
        lists = [os.path.join(info, n) for n in (f"{package}:amd64.list", f"{package}.list")]
        listed = next((p for p in lists if os.path.exists(p)), None)
        if listed is None:
            sys.exit(f"slim-base: {package} is not installed in {root}")
        with open(listed) as f:
            for line in f:
                path = line.strip()
                # Resolve the directories on the way (merged /usr), not the file itself.
                parent = os.path.realpath(os.path.join(root, os.path.dirname(path).lstrip("/")))
                full = os.path.join(parent, os.path.basename(path))
                if parent.startswith(root) and (os.path.islink(full) or os.path.isfile(full)):
                    place(os.path.relpath(full, root))
    for rel, text in {
        "etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\n"
        "nonroot:x:65532:65532:nonroot:/var/lib/barista:/sbin/nologin\n",
        "etc/group": "root:x:0:\nnonroot:x:65532:\n",
        "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    }.items():
        place(os.path.dirname(rel))
        with open(os.path.join(out, rel), "w") as f:
            f.write(text)
    os.makedirs(os.path.join(out, "tmp"), exist_ok=True)
    os.chmod(os.path.join(out, "tmp"), 0o1777)
    for shell in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/dash"):
        assert not os.path.lexists(os.path.join(out, shell)), f"a shell in the base: {shell}"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
