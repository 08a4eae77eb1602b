"""Run govops on hostile input under a wall-time and memory limit, and judge how it ended.

Each case runs in a forked child of the test process (the govops modules are already imported, so a
case costs milliseconds, not a Python start-up): the child lowers its address-space limit
(``RLIMIT_AS``), runs ``govops.cli.app.main`` (or any callable) with stdout/stderr sent to files,
and exits with the code. The parent kills it after ``timeout`` seconds: a hang is a finding, never a
stuck test run. What counts as a clean end is ``Outcome.problem``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 20.0  # a case takes well under a second; 20 s leaves room for a loaded CI machine
MEMORY_MB = 1024  # on top of what the test process already maps
CRASH = 99  # the child's exit code for an exception that escaped main() itself


@dataclass
class Outcome:
    code: int | None  # None: killed (hang or signal)
    out: str
    err: str
    seconds: float
    timed_out: bool = False
    signal: int | None = None

    def problem(self, allowed: Iterable[int] = (0, 2), files: Iterable[str] = ()) -> str | None:
        """Why this run did not end cleanly, or None.

        Clean: an allowed exit code, no traceback, no internal error, and on exit 2 every error
        line names one of ``files`` (with its line when it has one) or is a non-file usage error.
        """
        if self.timed_out:
            return f"hang: killed after {self.seconds:.1f} s"
        if self.signal is not None:
            return f"killed by signal {self.signal} (memory?)"
        if "Traceback" in self.err or "Traceback" in self.out:
            return "traceback"
        if "internal error" in self.err or self.code == CRASH:
            return "internal error"
        if "MemoryError" in self.err:
            return "MemoryError"
        if self.code not in set(allowed):
            return f"exit {self.code}"
        if self.code == 2:
            names = list(files)
            for line in self.err.splitlines():
                if not line.startswith("error:"):
                    continue
                text = line[len("error:") :].strip()
                if not names or any(n in text for n in names) or _NON_FILE.search(text):
                    continue
                return f"error line names no input file: {line!r}"
        return None


# Usage errors that are about options or the environment, not an input file.
_NON_FILE = re.compile(r"no cloud chosen|no device matches|unknown (department|check|run|device|site|group)")


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def run_isolated(
    fn: Callable[[], int], *, timeout: float = TIMEOUT_S, memory_mb: int = MEMORY_MB, cwd: Path | None = None
) -> Outcome:
    """``fn()`` in a forked child with limits; its return value is the exit code."""
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        sys.stdout.flush()
        sys.stderr.flush()
        limit = _vm_bytes() + memory_mb * 1024 * 1024
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # child: never returns
            code = CRASH
            try:
                os.setpgid(0, 0)
                if cwd is not None:
                    os.chdir(cwd)
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
                os.dup2(out_f.fileno(), 1)
                os.dup2(err_f.fileno(), 2)
                sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8")
                sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), encoding="utf-8")
                signal.signal(signal.SIGINT, signal.default_int_handler)
                code = int(fn())
            except BaseException:
                with contextlib.suppress(BaseException):
                    traceback.print_exc()
                code = CRASH
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        timed_out = False
        status = 0
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - started > timeout:
                timed_out = True
                os.killpg(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.005)
        seconds = time.monotonic() - started
        out_f.seek(0)
        err_f.seek(0)
        out = out_f.read().decode("utf-8", "replace")
        err = err_f.read().decode("utf-8", "replace")
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) and not timed_out else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    return Outcome(code, out, err, seconds, timed_out, sig)


@functools.cache
def preload() -> None:
    """Import what the commands import lazily, once in the parent, so each forked case is cheap."""
    import importlib

    for name in (
        "govops.cli.app",
        "govops.cli.cloud",
        "govops.cli.cloud.batch",
        "govops.cli.config_cmd",
        "govops.cli.doctor",
        "govops.cloud.batch",
        "govops.cloud.connection",
        "govops.cloud.spec",
        "govops.departments",
        "govops.network.inventory",
        "govops.store",
        "govops.vault",
        "openstack.config.loader",
        "cryptography.hazmat.primitives.kdf.pbkdf2",
        "cryptography.hazmat.primitives.ciphers",
        "cryptography.hazmat.primitives.padding",
    ):
        # an optional extra not installed: the child imports (or fails to) by itself
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def govops(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, **limits: float) -> Outcome:
    """``govops ARGS`` through the real ``main`` (error handling, exit codes) in an isolated child."""
    preload()

    def call() -> int:
        for k in [k for k in os.environ if k.startswith(("GOVOPS_", "OS_"))]:
            del os.environ[k]
        os.environ.update({"NO_COLOR": "1", "COLUMNS": "200", **(env or {})})
        from govops.cli.app import main

        return main(args)

    return run_isolated(call, cwd=cwd, **limits)  # type: ignore[arg-type]


def call_clean(fn: Callable[[], object], **limits: float) -> Outcome:
    """``fn()`` isolated, with a ``GovopsError`` reported like ``main`` does (one line, its exit code)."""

    def call() -> int:
        from govops.errors import GovopsError

        try:
            fn()
        except GovopsError as exc:
            for line in str(exc).splitlines() or [""]:
                print(f"error: {line}", file=sys.stderr)
            return int(exc.exit_code)
        return 0

    return run_isolated(call, **limits)  # type: ignore[arg-type]
