"""Each setting is declared once, as the default of a dataclass field: `var(NAME, default, kind, doc)`.

From that one declaration come the parsing (`read_group`, `read_groups`), the README's configuration table
(`dbd_playerstats.config.table`) and the one-line start-up `ConfigError` naming the variable. A group is a frozen
dataclass whose fields are `var(...)`; rules over several variables of a group (a cap at least its base, TLS files
that belong together) are `Check`s in its `CHECKS` class attribute, run after each variable was read on its own.
Adding a setting is one `var(...)` line; the README test then asks for the table to be regenerated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Generic, Protocol, TypeVar

T = TypeVar("T")
G = TypeVar("G")

_VAR: Final = "dbd_playerstats.config.var"


class ConfigError(ValueError):
    """A setting is invalid; `str()` is the one-line start-up error naming the variable."""


def invalid(name: str, shown: str, reason: str) -> ConfigError:
    """The start-up error: the variable, the value as shown (quoted, or redacted) and what to change."""
    return ConfigError(f"invalid {name}={shown}: {reason}")


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """How a variable's text (stripped) becomes its value.

    `convert` raises ValueError for text it does not accept; `allowed` (a noun phrase) is what the error says is
    expected and what the README's "allowed" column shows, so the two cannot disagree.
    """

    allowed: str
    convert: Callable[[str], T]


@dataclass(frozen=True, slots=True)
class Var(Generic[T]):
    """One environment variable. `secret`: its value is never quoted in an error (URLs with passwords).

    `blank_is_default`: an empty value means "unset" (the OpenTelemetry convention); otherwise an empty value is
    parsed like any other, so `PLAYERSTATS_GRACE_SECS=` is an error rather than silently the default.
    """

    name: str
    default: str
    kind: Kind[T]
    doc: str
    secret: bool = False
    blank_is_default: bool = False

    def read(self, environ: Mapping[str, str]) -> T:
        raw = environ.get(self.name, self.default)
        if self.blank_is_default and not raw.strip():
            raw = self.default
        try:
            return self.kind.convert(raw.strip())
        except ValueError:
            raise self.invalid(raw, f"expected {self.kind.allowed}") from None

    def invalid(self, raw: str, reason: str) -> ConfigError:
        return invalid(self.name, repr("<redacted>" if self.secret else raw), reason)


def var(name: str, default: str, kind: Kind[T], doc: str, *, secret: bool = False, blank_is_default: bool = False) -> T:
    """A dataclass field read from `name`; its Python default is `default` parsed (so a bad default fails import)."""
    declared = Var(name, default, kind, doc, secret=secret, blank_is_default=blank_is_default)
    return field(default=kind.convert(default), metadata={_VAR: declared})


class Check(Protocol):
    """A rule over several variables of one group."""

    def __call__(self, group: Any) -> None:
        """Raise ConfigError naming the variable to change when the group's values do not fit together."""

    def rule(self, group: type, name: str) -> str:
        """What this check adds to field `name`'s allowed values, for the README ("" when it does not concern it)."""


@dataclass(frozen=True, slots=True)
class AtLeast:
    """Field `attribute` must not be below field `floor` (a backoff cap below its base, an RPC budget below one
    attempt's)."""

    attribute: str
    floor: str

    def __call__(self, group: Any) -> None:
        value, floor = getattr(group, self.attribute), getattr(group, self.floor)
        if value < floor:
            floor_name = var_of(type(group), self.floor).name
            name = var_of(type(group), self.attribute).name
            raise invalid(name, f"{value:g}", f"must be at least {floor_name} ({floor:g})")

    def rule(self, group: type, name: str) -> str:
        return f"at least {var_of(group, self.floor).name}" if name == self.attribute else ""


def declared(group: type) -> list[tuple[str, Var[Any]]]:
    """The group's (field name, variable) pairs in declaration order; fields without `var` are not read."""
    return [(f.name, f.metadata[_VAR]) for f in fields(group) if _VAR in f.metadata]


def var_of(group: type, name: str) -> Var[Any]:
    """The variable behind field `name` of `group` (errors and docs name variables, code names fields)."""
    return dict(declared(group))[name]


def checks_of(group: type) -> tuple[Check, ...]:
    checks: tuple[Check, ...] = getattr(group, "CHECKS", ())
    return checks


def read_group(group: type[G], environ: Mapping[str, str]) -> G:
    """The group from `environ`: every variable parsed (the first bad one raises), then the group's checks."""
    value = group(**{name: declared_var.read(environ) for name, declared_var in declared(group)})
    for check in checks_of(group):
        check(value)
    return value


def subgroups(root: type) -> list[tuple[str, type]]:
    """The (field name, group) pairs of a dataclass made of groups, such as `Settings`."""
    groups: list[tuple[str, type]] = []
    for f in fields(root):
        if isinstance(f.default_factory, type):
            groups.append((f.name, f.default_factory))
    return groups


def read_groups(root: type[G], environ: Mapping[str, str]) -> G:
    """A dataclass made of groups, each read with `read_group` in field order."""
    return root(**{name: read_group(group, environ) for name, group in subgroups(root)})


def every_var(root: type) -> Iterator[tuple[type, str, Var[Any]]]:
    """(group, field name, variable) for every variable of a group or of a dataclass made of groups."""
    for _, group in subgroups(root):
        yield from every_var(group)
    for name, declared_var in declared(root):
        yield root, name, declared_var


__all__ = [
    "AtLeast",
    "Check",
    "ConfigError",
    "Kind",
    "Var",
    "checks_of",
    "declared",
    "every_var",
    "invalid",
    "read_group",
    "read_groups",
    "subgroups",
    "var",
    "var_of",
]
