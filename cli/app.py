"""The root ``govops`` command: global options, the command groups, and the one place where
errors become messages and exit codes (``main``)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from govops.cli import capacity, cloud, config_cmd, doctor, lab, net, net_remediate, play, report
from govops.cli import worker as worker_cmd
from govops.cli.application import Application, Ports
from govops.cli.terminal import OutputFormat, Terminal
from govops.errors import ExitCode, GovopsError, Interrupted

app = typer.Typer(
    name="govops",
    help="Operations toolkit for the city's e-government cloud, extranet and monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)
app.add_typer(cloud.app, name="cloud")
app.add_typer(net.app, name="net")
net.app.command("remediate")(net_remediate.remediate)
app.add_typer(capacity.app, name="capacity")
app.add_typer(report.app, name="report")
app.add_typer(play.app, name="play")
app.add_typer(lab.app, name="lab")
app.add_typer(config_cmd.app, name="config")
app.command("doctor")(doctor.doctor)
app.command("worker")(worker_cmd.worker)


def _version(value: bool) -> None:
    if value:
        from govops import __version__

        typer.echo(f"govops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Config file (else $GOVOPS_CONFIG, ./govops.yaml, ~/.config/govops/config.yaml)."
        ),
    ] = None,
    project_root: Annotated[
        Path | None,
        typer.Option("--project-root", help="Folder with inventories/ and playbooks/ (else $GOVOPS_HOME, cwd)."),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="Output format.")] = "table",
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail; -vv adds debug.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain text, no colours (also $NO_COLOR).")] = False,
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Language of messages and labels: zh or en (else $GOVOPS_LANG, config)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Operations toolkit for the city's e-government cloud, extranet and monitoring."""
    import os

    if lang is not None and lang not in ("zh", "en"):
        raise typer.BadParameter("must be zh or en", param_hint="--lang")
    state = ctx.obj if isinstance(ctx.obj, Application) else Application()
    ctx.obj = state
    state.config_path = config
    state.project_root = project_root
    state.lang = lang
    term = state.terminal
    term.color = not no_color and "NO_COLOR" not in os.environ
    term.quiet = quiet
    term.verbose = verbose
    term.output = output
    state.apply_lang()
    ctx.call_on_close(state.close)


# Global options may be typed anywhere (`govops net runs -o json`), like kubectl's global flags:
# they are moved in front of the first command word. No subcommand may reuse these names.
_GLOBAL_WITH_VALUE = {"--output", "-o", "--lang", "--config", "--project-root"}
_GLOBAL_FLAGS = {"--no-color", "--quiet", "-q", "--verbose", "-v", "-vv", "-vvv"}


def hoist_global_options(argv: list[str]) -> list[str]:
    front: list[str] = []
    rest: list[str] = []
    i = 0
    seen_command = False
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if seen_command and name in _GLOBAL_WITH_VALUE:
            if "=" in arg or (name == "-o" and len(arg) > 2):
                front.append(arg)
            elif i + 1 < len(argv):
                front.extend(argv[i : i + 2])
                i += 1
            else:
                rest.append(arg)
        elif seen_command and (arg in _GLOBAL_FLAGS or _is_attached_output(arg)):
            front.append(arg)
        else:
            if not arg.startswith("-") and not seen_command and (not rest or not _takes_value(rest[-1])):
                seen_command = True
            rest.append(arg)
        i += 1
    return front + rest


def _is_attached_output(arg: str) -> bool:
    """``-ojson``: the short output option with its value attached."""
    return arg.startswith("-o") and len(arg) > 2 and not arg.startswith("--")


def _takes_value(prev: str) -> bool:
    return prev in _GLOBAL_WITH_VALUE


def _interrupted_by_user(exc: BaseException) -> bool:
    """Whether Typer's ``Exit(130)`` stands for a ``KeyboardInterrupt`` (it swallows the message)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


class _Signals:
    """SIGTERM is handled like Ctrl-C: it becomes a SIGINT, so a run is marked interrupted and its
    resume hint printed, instead of the process dying with the run left ``running``."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: Any = None

    def _on_term(self, signum: int, frame: object) -> None:
        self.received = "SIGTERM"
        if callable(signal.getsignal(signal.SIGINT)):
            # through SIGINT's own handler: asyncio's (in an audit) cancels the run's tasks cleanly
            signal.raise_signal(signal.SIGINT)
        else:  # SIGINT ignored (a background job of a script): SIGTERM must still stop govops
            raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._on_term)
        except ValueError:  # not the main thread (an embedding program): leave signals alone
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def main(argv: list[str] | None = None, *, ports: Ports | None = None) -> int:
    """Run govops and return its exit code: the only place errors become messages and codes.
    ``ports``: adapters to use instead of the configured ones (tests' fakes)."""
    state = Application(terminal=Terminal(), ports=ports or Ports())
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    signals = _Signals()
    try:
        with signals:
            app(args=args, prog_name="govops", obj=state, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code == ExitCode.INTERRUPTED and _interrupted_by_user(exc):
            state.terminal.err.print(state.t("interrupted.signal", signal=signals.received or "SIGINT"))
        return code if isinstance(code, int) else (0 if code is None else ExitCode.ERROR)
    except Interrupted as exc:
        term = state.terminal
        term.err.print(
            f"[red]{state.t('error')}:[/red] "
            + state.t(
                "interrupted.run",
                signal=signals.received or "SIGINT",
                run_id=exc.run_id,
                done=exc.done,
                total=exc.total,
            )
        )
        term.err.print(f"[dim]{state.t('hint')}: {state.t('interrupted.resume', command=exc.resume)}[/dim]")
        return int(exc.exit_code)
    except GovopsError as exc:
        state.terminal.error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        state.terminal.err.print(state.t("interrupted.signal", signal=signals.received or "SIGINT"))
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last resort: one line, traceback only with -vv
        state.terminal.internal_error(exc)
        return ExitCode.ERROR
    finally:
        state.close()
    return ExitCode.OK


def run() -> None:
    sys.exit(main())
