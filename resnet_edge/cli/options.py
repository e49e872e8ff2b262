"""Command-line options derived from the config dataclasses, so a default, a choice or a help text is written once.

A command declares which configs it takes (`Section`s); `config_options` gives it one option per field, named
after the field (`batch_size` -> `--batch-size`, or the field's `flag`), typed by the field (enums become
choices, tuples comma-separated text), with the field's default and help. The command receives the configs
built from what was typed. A field that several sections share (`seed`) is one option that sets all of them.
`override_options` does the same for `build`, whose options only override the YAML recipe and BuildConfig.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from resnet_edge.errors import ConfigError


@dataclass(frozen=True)
class Section:
    """The fields of one config class that a command takes as options."""

    name: str  # the keyword argument the command receives the config (or the dict of values) under
    cls: type
    base: Any = None  # an instance whose values are the defaults (None: the class's own defaults)
    only: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    as_dict: bool = False  # pass {field: value} rather than a built config (the command completes it)
    defaults: dict[str, Any] = field(default_factory=dict)  # a command's own meaning of a field (bench: no data)

    def fields(self) -> list[Field]:
        chosen = [f for f in fields(self.cls) if f.metadata.get("cli", True) and f.name not in self.exclude]
        return [f for f in chosen if self.only is None or f.name in self.only]

    def default(self, f: Field) -> Any:
        if f.name in self.defaults:
            return self.defaults[f.name]
        if self.base is not None:
            return getattr(self.base, f.name)
        return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]

    def make(self, values: dict[str, Any]) -> Any:
        given = {f.name: values[f.name] for f in self.fields() if f.name in values}
        if self.as_dict:
            return given
        base = {f.name: getattr(self.base, f.name) for f in fields(self.cls)} if self.base is not None else {}
        return self.cls(**{**base, **given})


# Commands that read a trained model's data take every data option but the training-only ones: the same sources,
# fractions and seed give the same train / validation / test splits the model was trained with.
EVALUATION_DATA = ("stream", "stream_cache")


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(the option's type, whether it may be None) of a field's type hint."""
    args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
    optional = type(None) in getattr(hint, "__args__", ())
    if optional and len(args) == 1:
        hint = args[0]
    if getattr(hint, "__origin__", None) is tuple:
        return str, optional  # comma-separated on the command line; the config parses it
    return hint, optional


def _cli_value(value: Any) -> Any:
    """A config default as the command line shows and parses it."""
    if isinstance(value, tuple):
        return ",".join(str(v.value if isinstance(v, Enum) else v) for v in value)
    return value


def _flags(f: Field, kind: Any, default: Any) -> tuple[str, ...]:
    flag = f.metadata.get("flag")
    name = "--" + f.name.replace("_", "-")
    if flag and "/" in flag:
        return (flag,)
    if kind is bool and default is not False:  # True or None: both spellings
        base = flag or name
        return (f"{base}/--no-{base.removeprefix('--')}",)
    return (flag or name,)


def _option(f: Field, hint: Any, default: Any, help_suffix: str = "") -> inspect.Parameter:
    kind, optional = _base_type(hint)
    if f.metadata.get("text"):
        kind, optional = str, True
    if kind is str and not isinstance(default, str | type(None)):
        default = _cli_value(default)
    annotation = kind | None if optional or default is None else kind
    extra = {"case_sensitive": False} if isinstance(kind, type) and issubclass(kind, Enum) else {}
    info = typer.Option(*_flags(f, kind, default), help=f.metadata.get("help", "") + help_suffix, **extra)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, info])  # fmt: skip


def _wrap(fn: Callable, config_params: list[inspect.Parameter], names: set[str], make: Callable) -> Callable:
    """`fn` with its own parameters (minus `names`) plus `config_params`; `make` turns option values into the
    keyword arguments `names`."""
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name not in names]
    option_names = {p.name for p in config_params}

    @functools.wraps(fn)
    def command(**kwargs: Any) -> Any:
        values = {k: kwargs.pop(k) for k in list(kwargs) if k in option_names}
        return fn(**kwargs, **make(values))

    params = own + config_params
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    del command.__wrapped__  # typer reads the signature above, not fn's
    return command


def config_options(*sections: Section) -> Callable[[Callable], Callable]:
    """Give the command one option per field of each section; it receives each section's config by name."""

    def decorate(fn: Callable) -> Callable:
        params, seen = [], set()
        for section in sections:
            hints = get_type_hints(section.cls)
            for f in section.fields():
                if f.name not in seen:  # a shared field (seed): the first section's help and default
                    seen.add(f.name)
                    params.append(_option(f, hints[f.name], section.default(f)))
        return _wrap(fn, params, {s.name for s in sections}, lambda v: {s.name: s.make(v) for s in sections})

    return decorate


def override_options(base: Any, picks: tuple[tuple[str, str], ...]) -> Callable[[Callable], Callable]:
    """Options for `(section, field)` of `base` (a BuildConfig) that default to None (= keep the recipe's value);
    the command receives `overrides`: {section: {field: value}} of what was typed. The help shows the default."""

    def decorate(fn: Callable) -> Callable:
        params = []
        for section, name in picks:
            cls = type(getattr(base, section))
            f = next(f for f in fields(cls) if f.name == name)
            shown = _cli_value(getattr(getattr(base, section), name))
            suffix = f" Default: {shown.value if isinstance(shown, Enum) else shown}."
            params.append(_option(f, get_type_hints(cls)[name], None, suffix))

        def make(values: dict[str, Any]) -> dict[str, Any]:
            overrides: dict[str, dict[str, Any]] = {}
            for (section, name), param in zip(picks, params, strict=True):
                if values[param.name] is not None:
                    value = values[param.name]
                    overrides.setdefault(section, {})[name] = value.value if isinstance(value, Enum) else value
            return {"overrides": overrides}

        return _wrap(fn, params, {"overrides"}, make)

    return decorate


def _writable_parent(path: Path, option: str) -> None:
    """The nearest existing folder above `path` must be a folder we may write into."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} '{path}': '{parent}' is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} '{path}': folder '{parent}' is not writable")


def out_dir(value: Path | None) -> Path | None:
    """--out folders are checked before any work, so a bad one costs nothing and overwrites nothing."""
    if value is not None:
        if value.exists() and not value.is_dir():
            raise ConfigError(f"--out '{value}' is an existing file; give a folder (new or one this command wrote)")
        _writable_parent(value / "x", "--out")
    return value


def out_file(value: Path | None) -> Path | None:
    if value is not None:
        if value.is_dir():
            raise ConfigError(f"output file '{value}' is an existing folder; give a file path")
        _writable_parent(value, "output file")
    return value


def invalid_exit(invalid: tuple[str, ...], allow_invalid: bool, note: str = "") -> int:
    """Exit code 1 (with one line naming them) when artifacts failed validation, unless --allow-invalid."""
    from resnet_edge.console import err_console

    if invalid and not allow_invalid:
        err_console.print(f"resnet-edge: {len(invalid)} artifact(s) failed validation{note}: {', '.join(invalid)}",
                          markup=False, soft_wrap=True)  # fmt: skip
        return 1
    return 0


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
AllowInvalidOpt = Annotated[bool, typer.Option("--allow-invalid", help="Exit 0 even when an artifact is invalid.")]
