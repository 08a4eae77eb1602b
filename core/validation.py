"""Turn pydantic validation errors into ``file:line key: message`` problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from govops.errors import Problem, ValidationFailed
from govops.i18n import Msg, Text
from govops.yamlio import KeyPath, Located
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)

# pydantic's error types whose words the catalog has (``err.valid.<type>``, with the error's context
# as parameters); any other type keeps pydantic's English text
_TRANSLATED = frozenset(
    {
        "extra_forbidden",
        "missing",
        "url_parsing",
        "url_scheme",
        "int_parsing",
        "int_type",
        "float_parsing",
        "float_type",
        "bool_parsing",
        "bool_type",
        "string_type",
        "dict_type",
        "list_type",
        "literal_error",
        "enum",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "string_too_short",
        "too_short",
        "too_long",
    }
)


def _message(err: ErrorDetails) -> Text:
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, Exception) and cause.args and isinstance(cause.args[0], Msg):
        return cause.args[0]  # our own validator's message, raised as ValueError(Msg(...))
    if err["type"] in _TRANSLATED:
        # English keeps pydantic's own words ({pydantic}); other languages build theirs from the context
        params: dict[str, object] = {k: v for k, v in ctx.items() if k != "error"}
        if "expected" in params:  # "'a', 'b' or 'c'": the list without the English conjunction
            params["expected"] = str(params["expected"]).replace(" or ", ", ")
        return Msg("err.valid." + err["type"], pydantic=err["msg"], **params)
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
