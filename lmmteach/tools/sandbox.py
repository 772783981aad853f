"""Start one student's kernel inside its limits: the last step before ``exec`` of ipykernel.

    unshare --pid --fork --kill-child --mount --mount-proc \\
        python -m lmmteach.tools.sandbox CONFIG_JSON -- python -m ipykernel_launcher -f CONNECTION_FILE

The grading worker (:mod:`lmmteach.tools.grade_worker`) builds this command.
As root (the strong mode) the kernel runs in its own PID namespace, so when
the kernel ends every process it started ends with it (a double-forking
daemon included), and in its own mount namespace, where this module, before
dropping privileges:

* mounts an empty read-only tmpfs over every path in ``hide`` (the course
  checkout with its solutions and references, the submissions folder, the
  grader's output folder, the instructor's home) and a small private tmpfs over
  ``/tmp``, ``/var/tmp`` and ``/dev/shm``;
* copies the connection file into the kernel's work folder;
* sets resource limits (``RLIMIT_AS`` memory, ``RLIMIT_CPU`` seconds,
  ``RLIMIT_NPROC`` processes and threads, ``RLIMIT_FSIZE`` bytes per file, no
  core files);
* switches to a user id of its own (one per submission), with no groups.

Without root the same limits apply and the kernel starts a new session that
the worker kills as a group at the end; that mode cannot stop a process that
leaves the session on purpose, nor hide files the instructor's user can read
(the worker says so in the row's notes).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys

__all__ = ["apply_limits", "main"]

PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
PRIVATE_TMP_SIZE = "256m"


def apply_limits(limits: dict) -> None:
    """Set the kernel's resource limits (both soft and hard: the kernel cannot raise them)."""
    table = {"memory": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "nproc": resource.RLIMIT_NPROC,
             "fsize": resource.RLIMIT_FSIZE}
    for name, which in table.items():
        if limits.get(name):
            value = int(limits[name])
            resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _mount(*args, fds=()) -> None:
    subprocess.run(["mount", *args], check=True, pass_fds=fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def _hide(paths, keep) -> None:
    """An empty read-only tmpfs over each path, with the paths in ``keep`` under it bound back in (read-only)."""
    done = []
    for path in sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)}):
        if any(_inside(path, h) for h in done) or any(_inside(path, k) for k in keep):
            continue  # already hidden, or inside a kept folder
        done.append(path)
        inner = [k for k in keep if _inside(k, path)]
        fds = [os.open(k, os.O_PATH | os.O_DIRECTORY) for k in inner]
        _mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", path)
        for k, fd in zip(inner, fds):
            os.makedirs(k, exist_ok=True)
            _mount("--no-canonicalize", "--bind", f"/proc/self/fd/{fd}", k, fds=(fd,))
            os.close(fd)
        _mount("-o", "remount,ro", path)
    for path in PRIVATE_TMP:
        if os.path.isdir(path) and not any(_inside(k, path) for k in keep):
            _mount("-t", "tmpfs", "-o", f"size={PRIVATE_TMP_SIZE},mode=1777,nosuid,nodev", "tmpfs", path)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    config, command = json.loads(argv[0]), argv[argv.index("--") + 1:]
    work, uid = config["work"], config.get("uid")
    if "-f" in command:  # the kernel reads its connection file after dropping privileges
        index = command.index("-f") + 1
        copy = os.path.join(work, "kernel-connection.json")
        shutil.copyfile(command[index], copy)
        command[index] = copy
        if uid is not None:
            os.chown(copy, uid, uid)
    if os.geteuid() == 0 and config.get("namespaces"):
        keep = {os.path.realpath(p) for p in (work, config.get("package", work), sys.prefix, sys.base_prefix)}
        _hide(config.get("hide", []), keep=sorted(keep))
    apply_limits(config.get("limits", {}))
    if os.geteuid() == 0 and uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.chdir(work)
    os.execve(command[0], command, config["env"])
    return 1  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
