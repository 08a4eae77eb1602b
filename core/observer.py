"""How services report progress without printing: the CLI implements this, tests record it.

Labels and messages are ``Text``: a service passes a ``Msg`` (catalog key), the CLI shows it in the
user's language; ``str()`` of it is the English text."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from govops.i18n import Text


class Observer(Protocol):
    def started(self, total: int, description: Text) -> None: ...
    def advanced(self, target: str, status: str, detail: str | None = None) -> None: ...
    def message(self, text: Text) -> None: ...
    def finished(self) -> None: ...


@runtime_checkable
class StageObserver(Protocol):
    """An Observer that can also show where each target is (the CLI's per-VM / per-host progress rows).

    One definition for cloud batches and playbook runs; a service checks ``isinstance(observer,
    StageObserver)`` before reporting stages, so a plain Observer still works."""

    def stage(self, target: str, stage: str, fraction: float) -> None: ...


class NullObserver:
    def started(self, total: int, description: Text) -> None:
        pass

    def advanced(self, target: str, status: str, detail: str | None = None) -> None:
        pass

    def message(self, text: Text) -> None:
        pass

    def finished(self) -> None:
        pass


class RecordingObserver:
    """Keeps every event; for tests and for callers that want the trail (texts as ``str()``, English)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def started(self, total: int, description: Text) -> None:
        self.events.append(("started", str(total), str(description)))

    def advanced(self, target: str, status: str, detail: str | None = None) -> None:
        self.events.append(("advanced", target, status, detail or ""))

    def message(self, text: Text) -> None:
        self.events.append(("message", str(text)))

    def finished(self) -> None:
        self.events.append(("finished",))
