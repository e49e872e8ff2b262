"""How a setting is declared: one dataclass field holds its default, its help text and its command-line flag.

Every config dataclass declares its fields with `setting(...)`; the command line (`resnet_edge.cli.options`)
builds its options from those fields, so a default, a choice or a help text is written once. This module
imports nothing heavy: `resnet-edge --help` must not load TensorFlow.
"""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum
from typing import Any, TypeVar

from resnet_edge.errors import ConfigError

E = TypeVar("E", bound=StrEnum)


def setting(default: Any, help: str, *, flag: str | None = None, cli: bool = True, text: bool = False) -> Any:
    """A dataclass field with its help text. `flag` overrides the option name (`--per-tensor` style pairs too);
    `cli=False` keeps the field off the command line (set by code or YAML only); `text=True`: the command line
    passes the field as text (`10%`, `40M`) that the config's own `__post_init__` parses."""
    return field(default=default, metadata={"help": help, "flag": flag, "cli": cli, "text": text})


def parse_enum(enum: type[E], value: str | E, what: str) -> E:
    """`value` as a member of `enum`, or a ConfigError that lists the accepted values."""
    if isinstance(value, enum):
        return value
    for member in enum:
        if str(value).lower() == member.value.lower():
            return member
    accepted = ", ".join(m.value for m in enum)
    raise ConfigError(f"{what} {value!r} is not accepted; use one of: {accepted}")


def parse_enums(enum: type[E], values: Any, what: str) -> tuple[E, ...]:
    """A tuple of members from an iterable or a comma-separated string; empty is an error."""
    items = values.split(",") if isinstance(values, str) else list(values)
    parsed = tuple(dict.fromkeys(parse_enum(enum, str(v).strip(), what) for v in items if str(v).strip()))
    if not parsed:
        raise ConfigError(f"no {what} given (received {values!r}); accepted: {', '.join(m.value for m in enum)}")
    return parsed


def enum_values(d: dict[str, Any]) -> dict[str, Any]:
    """A dataclass's asdict() with enum members (and tuples of them) as their plain values, for JSON and YAML."""

    def plain(v: Any) -> Any:
        if isinstance(v, StrEnum):
            return v.value
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return {k: plain(v) for k, v in d.items()}
