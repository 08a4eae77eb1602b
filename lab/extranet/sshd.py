"""The lab's SSH devices: one asyncssh process serving every device on its own (address, port).

Run as ``python -m govops.lab.extranet.sshd CONFIG.json``; CONFIG (mode 0600, in the lab folder)
lists each device's state, listen addresses, port and accepted password (and, optionally, an
``auth_log`` file where each login attempt's user is appended). Once every listener is
bound the process writes ``<CONFIG>.ready``; a bind failure exits non-zero with the reason logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from govops.lab.extranet.configmode import is_configuration
from govops.lab.extranet.plan import DeviceState
from govops.lab.extranet.render import Cli, Result

PAGE_LINES = 24
MORE = {
    "huawei_vrp": ("  ---- More ----", "\x1b[16D                \x1b[16D"),
    "hp_comware": ("---- More ----", "\x1b[14D              \x1b[14D"),
    "cisco_ios": (" --More-- ", "\b" * 9 + " " * 9 + "\b" * 9),
}
# how an engineer asks each platform whether there is an IPv6 default route
DEFAULT_ROUTE_QUERIES = {
    "huawei_vrp": ("display ipv6 routing-table :: 0",),
    "hp_comware": ("display ipv6 routing-table :: 0",),
    "cisco_ios": ("show ipv6 route ::/0",),
}
# The software part of each platform's SSH identification string ("SSH-2.0-<this>").
SSH_VERSION = {"huawei_vrp": "HUAWEI-1.5", "hp_comware": "Comware-7.1.064", "cisco_ios": "Cisco-1.25"}
# What the devices offer in their KEXINIT, restricted to algorithms all three platforms ship. asyncssh's
# defaults add post-quantum hybrids, chacha20, umac and zlib that no VRP/Comware/IOS release offers;
# paramiko picked mlkem768x25519, the dearest kex for both ends.
KEX_ALGS = [
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
]
ENCRYPTION_ALGS = ["aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
MAC_ALGS = ["hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"]
HUAWEI_LOGIN_INFO = (
    "Info: The max number of VTY users is 10, and the number\n"
    "      of current VTY users on line is 1.\n"
    "      The current login time is 2024-05-20 09:30:00+08:00."
)
# The device's prompt text, not a password.
PASSWORD_CHANGE = (
    "Warning: The initial password poses security risks.\n"  # noqa: S105
    "The password needs to be changed. Change now? [Y/N]:"
)


class Reader:
    """Keystrokes from the client, echoed like a device's terminal line does; the session's output too.

    Output waits in ``pending`` until the session reads again, so the device's answer to one line
    (echo, output, prompt) leaves in one write, as a device's tty sends it. A write per piece cost
    an SSH packet each, and both ends more CPU than the command itself.
    """

    def __init__(self, proc: Any) -> None:
        self.proc = proc
        self.buf = ""
        self.skip_lf = False
        self.pending: list[str] = []

    def write(self, text: str) -> None:
        self.pending.append(text)

    def flush(self) -> None:
        if self.pending:
            self.proc.stdout.write("".join(self.pending))
            self.pending.clear()

    async def _fill(self) -> bool:
        self.flush()
        data = await self.proc.stdin.read(4096)
        if not data:
            return False
        self.buf += data
        return True

    async def key(self) -> str | None:
        while not self.buf:
            if not await self._fill():
                return None
        ch, self.buf = self.buf[0], self.buf[1:]
        return ch

    async def line(self, echo: bool = True) -> str | None:
        out: list[str] = []
        while True:
            ch = await self.key()
            if ch is None:
                return None if not out else "".join(out)
            if self.skip_lf and ch == "\n":
                self.skip_lf = False
                continue
            self.skip_lf = False
            if ch in "\r\n":
                self.skip_lf = ch == "\r"
                return "".join(out)
            if ch in "\x7f\x08":
                if out:
                    out.pop()
                    if echo:
                        self.write("\b \b")
                continue
            if ch == "\x1a":  # Ctrl+Z: back to user view
                return "\x1a"
            if ch < " " and ch != "\t":
                continue
            out.append(ch)
            if echo:
                self.write(ch)


class Device:
    """A device's state, parsed once for all its sessions.

    Configuration mode changes the state in place (every session of the device sees it). A saved
    configuration is written to ``<state_dir>/<hostname>.saved.json`` and read back when the
    process starts again; the running state is mirrored to ``<hostname>.running.json`` after each
    change, so tests can compare an audit with the device's truth after a remediation.
    """

    def __init__(self, dev: dict[str, Any], state_dir: Path | None = None) -> None:
        self.st = DeviceState.from_dict(dev["state"])
        self.state_dir = state_dir
        if state_dir is not None:
            saved = state_dir / f"{self.st.hostname}.saved.json"
            if saved.exists():
                self.st = DeviceState.from_dict(json.loads(saved.read_text(encoding="utf-8")))
                self._write("running")
            else:  # restarted without a save: what was configured since is gone, as on a device
                (state_dir / f"{self.st.hostname}.running.json").unlink(missing_ok=True)
        self.community: str = dev["community"]
        self.config_faulted = False  # the configuration fault strikes once per process
        # A query's answer, by mode and command line: the state behind it never changes while
        # the process runs, and rendering it anew for each session was a tenth of the sshd's CPU.
        # A real device's stored config keeps its ciphertexts too, session after session.
        self.answers: dict[tuple[bool, str], Result] = {}

    def warm(self, username: str) -> None:
        """Render the device's queries before the lab reports ready, as snmpsim's answers are: the
        CPU a real device spends on its answers is not the auditing machine's, so the lab spends
        it before an audit, not during one. Queries without arguments, and the default-route lookup."""
        cli = Cli(self.st, username, self.community)
        lines = [" ".join(p) for p, _h in cli.commands if p[0].startswith(("dis", "sh")) and "<" not in "".join(p)]
        for line in [*lines, *DEFAULT_ROUTE_QUERIES.get(self.st.platform, ())]:
            result = cli.run(line)
            if not result.error and result.confirm is None:
                self.answers[(False, line)] = result

    def changed(self) -> None:
        """The state changed: cached answers are stale; the running state is mirrored to disk."""
        self.answers.clear()
        self._write("running")

    def save(self) -> None:
        self._write("saved")

    def _write(self, what: str) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / f"{self.st.hostname}.{what}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.st.to_dict()), encoding="utf-8")
        tmp.replace(path)


class Session:
    def __init__(self, proc: Any, device: Device, username: str) -> None:
        self.proc = proc
        self.st = device.st
        self.device = device
        self.cli = Cli(self.st, username, device.community)
        self.reader = Reader(proc)
        self.fault = self.st.fault.kind if self.st.fault else None
        self.delay = (self.st.fault.delay_s or 0.0) if self.st.fault else 0.0
        self.commands = 0
        self.config_lines = 0  # configuration lines of this session (the config faults count them)

    def write(self, text: str) -> None:
        self.reader.write(text.replace("\r\n", "\n").replace("\n", "\r\n"))

    async def run(self) -> None:
        try:
            if self.st.platform == "huawei_vrp":
                self.write("\n" + HUAWEI_LOGIN_INFO + "\n")
                if self.st.first_login_prompt and not await self._password_change():
                    return
            self.write("\n" + self.cli.prompt)
            while True:
                line = await self.reader.line()
                if line is None:
                    break
                if line == "\x1a":
                    self.cli.config_mode = False
                    self.write("\n" + self.cli.prompt)
                    continue
                cmd = line.strip()
                if not self.cli.config_mode and cmd in ("quit", "exit", "logout"):
                    break
                if not await self._answer(cmd):
                    return
        except (ConnectionError, OSError):
            return
        finally:
            if not self.proc.is_closing():
                self.reader.flush()
                self.proc.exit(0)

    async def _password_change(self) -> bool:
        self.write(PASSWORD_CHANGE)
        reply = await self.reader.line()
        if reply is None:
            return False
        if reply.strip().lower().startswith("y"):
            # The lab's password is fixed by its credentials file: refuse like a device whose
            # new password breaks the policy, then carry on to the prompt.
            self.write("\nPlease enter old password:")
            await self.reader.line(echo=False)
            self.write("\nError: The password does not meet the password policy.")
        self.write("\n")
        return True

    async def _answer(self, cmd: str) -> bool:
        key = (self.cli.config_mode, cmd)
        if self.cli.config_mode and is_configuration(cmd):
            self.config_lines += 1
            faulty = self.fault in ("config_reject", "config_drop") and not self.device.config_faulted
            if faulty and self.config_lines == 2:
                self.device.config_faulted = True
                if self.fault == "config_drop":
                    # the session dies before the line is applied, as when a link flaps mid-push
                    self.reader.flush()
                    await self.proc.stdout.drain()
                    self.proc.channel.get_connection().abort()
                    return False
                self.write("\n" + self.cli.reject(cmd) + "\n" + self.cli.prompt)
                return True
        result = self.device.answers.get(key)
        if result is None:
            result = self.cli.run(cmd)
        if result.changed:
            self.device.changed()
        if self.cli.saved:
            self.cli.saved = False
            self.device.save()
        is_query = bool(cmd) and not result.error and cmd.split(maxsplit=1)[0].lower().startswith(("dis", "sh"))
        if is_query and result.confirm is None:
            self.device.answers[key] = result
        if self.delay and cmd:
            await asyncio.sleep(self.delay)
        out = result.output
        if is_query:
            self.commands += 1
            if self.fault == "garbage":
                out = _garbage(self.st.hostname, cmd)
            elif self.fault == "drop_session":
                self.write("\n" + "\n".join(out.split("\n")[: max(1, out.count("\n") // 3)]))
                self.reader.flush()
                await self.proc.stdout.drain()
                self.proc.channel.get_connection().abort()
                return False
        self.write("\n")
        if out:
            if not await self._page(out):
                self.write(self.cli.prompt)
                return True
            self.write("\n")
        if result.confirm is not None:
            reply = await self.reader.line()
            if reply is None:
                return False
            answer = self.cli.answer(result.confirm, reply)
            self.write("\n" + (answer + "\n" if answer else ""))
            if self.cli.saved:
                self.cli.saved = False
                self.device.save()
        self.write(self.cli.prompt)
        return True

    async def _page(self, out: str) -> bool:
        """Write output, paused at each screenful unless paging was switched off; False if aborted."""
        lines = out.split("\n")
        if not self.cli.paging or len(lines) <= PAGE_LINES:
            self.write(out)
            return True
        more, erase = MORE[self.st.platform]
        pos = 0
        step = PAGE_LINES - 1
        while pos < len(lines):
            chunk = lines[pos : pos + step]
            pos += step
            self.write("\n".join(chunk))
            if pos >= len(lines):
                return True
            self.write("\n" + more)
            key = await self.reader.key()
            self.reader.write(erase)
            if key is None or key in "qQ\x03":
                self.write("\n")
                return False
            step = 1 if key in "\r\n" else PAGE_LINES - 1
        return True


def _garbage(hostname: str, cmd: str) -> str:
    rng = random.Random(f"garbage/{hostname}/{cmd}")
    junk = "#$%&*@!~^`|\\{}[]<>;:0123456789ABCDEFabcdef\x1b\x07"
    return "\n".join("".join(rng.choice(junk) for _ in range(rng.randint(10, 70))) for _ in range(rng.randint(5, 15)))


def _server_class(username: str, password: str, auth_log: str | None = None) -> Callable[[], Any]:
    import asyncssh

    def note(event: str, user: str) -> None:
        # tests of host-key checking read this to prove no login reached the device (never the password)
        if auth_log is not None:
            with open(auth_log, "a", encoding="utf-8") as f:
                f.write(f"{event} {user}\n")

    class DeviceServer(asyncssh.SSHServer):
        def begin_auth(self, user: str) -> bool:
            note("begin_auth", user)
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, user: str, pw: str) -> bool:
            note("password", user)
            ok_user = hmac.compare_digest(user.encode(), username.encode())
            return hmac.compare_digest(pw.encode(), password.encode()) and ok_user

    return DeviceServer


def _raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _keep_config(self: Any) -> None:
    """Stands in for ``SSHServerConnection.reload_config``, which asyncssh runs at every login to
    re-match sshd_config blocks against the user and client address: it rebuilds the connection's
    options in a worker thread. The lab loads no sshd_config, so the rebuilt options always equal
    the listener's and the thread round trip was pure per-session cost."""


async def serve(config_path: Path) -> None:
    import asyncssh

    asyncssh.SSHServerConnection.reload_config = _keep_config  # type: ignore[method-assign]

    cfg = json.loads(config_path.read_text())
    devices: list[dict[str, Any]] = cfg["devices"]
    _raise_nofile(len(devices) * 4 + 4096)
    key = asyncssh.read_private_key(cfg["host_key"])
    username = cfg["username"]
    state_dir = config_path.parent / "device-state"
    for dev in devices:
        device = Device(dev, state_dir)
        device.warm(username)

        def factory(proc: Any, device: Device = device) -> Any:
            return Session(proc, device, username).run()

        await asyncssh.create_server(
            _server_class(username, dev["password"], cfg.get("auth_log")),
            dev["listen"],
            dev["port"],
            server_host_keys=[key],
            process_factory=factory,
            encoding="utf-8",
            line_editor=False,
            reuse_address=True,
            server_version=SSH_VERSION[dev["state"]["platform"]],
            login_timeout=60,
            kex_algs=KEX_ALGS,
            encryption_algs=ENCRYPTION_ALGS,
            mac_algs=MAC_ALGS,
            compression_algs=["none"],
        )
    ready = config_path.with_suffix(".ready")
    ready.write_text(json.dumps({"devices": len(devices)}))
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        return 2
    try:
        asyncio.run(serve(Path(args[0])))
    except OSError:
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
