"""The settings engine: typed sections that check themselves.

A :class:`Section` is a ``msgspec.Struct`` whose field types carry the rules
(``msgspec.Meta`` constraints, ``Literal``, :class:`Allowed`); building one
validates every field and then runs :meth:`Section.check`. This module also
says in words what a type allows, for the one-line :class:`ConfigError`.
"""

import difflib
import functools
import operator
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
import msgspec.inspect as mi

from .errors import ConfigError

__all__ = [
    "Allowed",
    "Section",
    "allowed_text",
    "base_type",
    "field_type",
    "field_types",
    "match_literal",
    "section_type",
]


class Allowed:
    """``Annotated`` metadata: an extra rule for a value, with a description.

    ``port: Annotated[int, Allowed(lambda v: v > 0, "a positive integer")] = 1``
    """

    __slots__ = ("description", "predicate")

    def __init__(self, predicate: Callable[[Any], bool], description: str) -> None:
        self.predicate = predicate
        self.description = description

    def __repr__(self) -> str:
        return f"Allowed({self.description!r})"


def base_type(tp: Any) -> Any:
    """``tp`` without constraints: Annotated metadata removed, Literals as their types."""
    origin = get_origin(tp)
    if origin is Annotated:
        return base_type(get_args(tp)[0])
    if origin is Literal:
        return functools.reduce(operator.or_, sorted({type(v) for v in get_args(tp)}, key=str))
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [base_type(a) for a in get_args(tp)])
    if origin is list:
        return list[base_type(get_args(tp)[0])]  # type: ignore[misc]
    if origin is dict:
        key_tp, value_tp = get_args(tp)
        return dict[base_type(key_tp), base_type(value_tp)]  # type: ignore[misc]
    return tp


def _rules(tp: Any) -> list[Allowed]:
    """The Allowed rules of ``tp``, or of ``X`` in ``X | None`` (None, where
    allowed, needs no rule: the type check accepted it)."""
    if get_origin(tp) is Annotated:
        return [m for m in tp.__metadata__ if isinstance(m, Allowed)]
    if get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return _rules(members[0])
    return []


def section_type(tp: Any) -> "type[Section] | None":
    tp = base_type(tp)
    if isinstance(tp, type) and issubclass(tp, Section):
        return tp
    return None


def _num(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bounds(t: mi.IntType | mi.FloatType) -> str:
    if t.ge is not None and t.le is not None:
        return f" in [{_num(t.ge)}, {_num(t.le)}]"
    parts = [
        f"{op} {_num(bound)}"
        for op, bound in ((">=", t.ge), (">", t.gt), ("<=", t.le), ("<", t.lt))
        if bound is not None
    ]
    return (" " + " and ".join(parts)) if parts else ""


def _describe_info(t: mi.Type, plural: bool = False) -> str:
    def noun(one: str, many: str) -> str:
        return many if plural else one

    if isinstance(t, mi.BoolType):
        return noun("a boolean (true or false)", "booleans")
    if isinstance(t, mi.IntType):
        return noun("an integer", "integers") + _bounds(t)
    if isinstance(t, mi.FloatType):
        return noun("a number", "numbers") + _bounds(t)
    if isinstance(t, mi.StrType):
        if t.min_length == 1 and t.max_length is None and t.pattern is None:
            return noun("a non-empty string", "non-empty strings")
        text = noun("a string", "strings")
        if t.min_length and t.max_length is not None:
            text += f" of {t.min_length} to {t.max_length} characters"
        elif t.min_length:
            text += f" of at least {t.min_length} characters"
        elif t.max_length is not None:
            text += f" of at most {t.max_length} characters"
        if t.pattern is not None:
            text += f" matching {t.pattern!r}"
        return text
    if isinstance(t, mi.LiteralType):
        return ("values from " if plural else "one of ") + ", ".join(repr(v) for v in t.values)
    if isinstance(t, mi.ListType | mi.TupleType | mi.VarTupleType | mi.SetType):
        item = getattr(t, "item_type", None)
        if item is None:
            return noun("a list", "lists")
        if isinstance(item, mi.StructType | mi.DataclassType | mi.TypedDictType):
            return noun("an array of tables", "arrays of tables")
        return noun("a list of ", "lists of ") + _describe_info(item, plural=True)
    if isinstance(t, mi.StructType | mi.DataclassType | mi.TypedDictType | mi.DictType):
        return noun("a table", "tables")
    if isinstance(t, mi.UnionType):
        options = [_describe_info(o, plural) for o in t.types if not isinstance(o, mi.NoneType)]
        text = " or ".join(options)
        return text + (" (or unset)" if t.includes_none else "")
    if isinstance(t, mi.NoneType):
        return "unset"
    if isinstance(t, mi.AnyType):
        return "any value"
    return noun("a ", "") + type(t).__name__.removesuffix("Type").lower()


def _describe(tp: Any) -> str:
    """What a value of type ``tp`` must be, in words: ``an integer >= 125``."""
    inner = tp
    while get_origin(inner) is Annotated:
        inner = get_args(inner)[0]
    if get_origin(inner) is Literal:  # keep the declared order (type_info sorts)
        return "one of " + ", ".join(repr(v) for v in get_args(inner))
    return _describe_info(mi.type_info(tp))


def match_literal(value: Any, tp: Any) -> Any:
    """Case-insensitive match of a string against a (possibly Annotated) Literal."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) is Literal and isinstance(value, str):
        for choice in get_args(tp):
            if isinstance(choice, str) and choice.lower() == value.strip().lower():
                return choice
    return value


# ------------------------------------------------------------------------ checking


def allowed_text(tp: Any) -> str:
    """What a value must be, with the type's own rule when it has one (so a bad
    port names the range, not just "an integer") or its bounds ("a number > 0")."""
    rules = _rules(tp)
    return rules[0].description if rules else _describe(tp)


def unknown_key(key: str, known: list[str], source: str) -> ConfigError:
    """The error for a key that is not one of ``known`` (with a "did you mean")."""
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    else:
        hint = "known keys: " + ", ".join(known)
    return ConfigError(f"unknown key {key!r} in {source}: {hint}")


def build_section(
    cls: "type[Section]", values: Mapping[str, Any], prefix: str, source: str | None = None
) -> "Section":
    """``cls`` built from ``values`` (keys already read by type, or given in
    Python); an unknown or missing key, or a bad value, is a ConfigError whose
    key starts with ``prefix`` (``admin.``, ``scanners[0].``)."""
    fields = field_types(cls)
    for key in values:
        if key not in fields:
            raise unknown_key(prefix + key, list(fields), source or "the Python value")
    for field in msgspec.structs.fields(cls):
        if field.required and field.name not in values:
            raise ConfigError(
                f"is missing: it is required, {allowed_text(field.type)}",
                key=prefix + field.name,
                source=source,
            )
    try:
        return cls(**values)
    except ConfigError as exc:
        raise exc.within(prefix=prefix, source=source) from None


def _tables_as_sections(key: str, value: Any, tp: Any) -> Any:
    """A table given as a dict (``Config(admin={"port": 8081})``), or a list of
    them, built into its Section; anything else as it is."""
    section = section_type(tp)
    if section is not None and isinstance(value, dict):
        return build_section(section, value, key + ".")
    base = base_type(tp)
    if get_origin(base) is list and isinstance(value, list):
        item = section_type(get_args(base)[0])
        if item is not None and any(isinstance(v, dict) for v in value):
            return [
                build_section(item, v, f"{key}[{i}].") if isinstance(v, dict) else v
                for i, v in enumerate(value)
            ]
    return value


def _check_value(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against ``tp``; return it (a table given as a dict
    comes back as its Section)."""
    value = _tables_as_sections(key, value, tp)
    base = base_type(tp)
    try:
        msgspec.convert(value, base, strict=True)
    except msgspec.ValidationError:
        raise ConfigError(f"is not {allowed_text(tp)}", key=key, value=value) from None
    if base is not tp:
        try:
            msgspec.convert(value, tp, strict=True)
        except msgspec.ValidationError:
            raise ConfigError(
                f"is not allowed: must be {_describe(tp)}", key=key, value=value
            ) from None
    for rule in _rules(tp) if value is not None else ():
        if not rule.predicate(value):
            raise ConfigError(f"is not allowed: must be {rule.description}", key=key, value=value)
    # Nested sections validated themselves when built; check again for mutations.
    if isinstance(value, Section):
        _validate_nested(key + ".", value)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, Section):
                _validate_nested(f"{key}[{i}].", item)
    return value


def _validate_nested(prefix: str, section: "Section") -> None:
    try:
        section.validate()
    except ConfigError as exc:
        raise exc.within(prefix=prefix) from None


@functools.cache
def field_types(cls: type[msgspec.Struct]) -> dict[str, Any]:
    """``cls``'s keys and their declared types, in declaration order (cached:
    callers read it and never change it)."""
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


def field_type(cls: "type[Section]", key: str) -> Any:
    """The declared type of ``cls``'s key ``key``; KeyError if it has none."""
    return field_types(cls)[key]


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of :class:`Config` and of nested tables (``[jobs]``, ``[[scanners]]``).

    Construction validates every field against its type (see the module doc),
    then runs :meth:`check`; a bad value raises :class:`ConfigError`.
    """

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for the first bad value (types, ranges, cross-key rules)."""
        for key, tp in field_types(type(self)).items():
            value = getattr(self, key)
            checked = _check_value(key, value, tp)
            if checked is not value:
                setattr(self, key, checked)
        self.check()

    def check(self) -> None:
        """Rules that involve several keys; override and raise :class:`ConfigError`."""
