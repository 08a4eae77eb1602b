"""Turn pydantic validation errors into ``file:line key: message`` problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from govops.errors import Problem, ValidationFailed
from govops.yamlio import KeyPath, Located
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "url_parsing": "not a URL",
    "url_scheme": "not a URL with a supported scheme",
}


def _message(err: ErrorDetails) -> str:
    msg = _MESSAGES.get(err["type"])
    if msg:
        return msg
    text = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def problems_from(exc: ValidationError, located: Located, base: KeyPath = ()) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        # pydantic appends a tag for unions ('function-after[...]'); keep only data keys
        path = tuple(p for p in err["loc"] if isinstance(p, int) or "[" not in str(p))
        out.append(Problem(_message(err), located.location((*base, *path))))
    return out


def validate(model: type[M], data: Any, located: Located, base: KeyPath = ()) -> M:
    """Validate ``data`` (a part of ``located`` at ``base``) or raise with every problem located."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(problems_from(exc, located, base)) from None
