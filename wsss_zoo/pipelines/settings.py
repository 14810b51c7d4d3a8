"""Typed pipeline settings: every setting a pipeline recipe reads is declared with its type and valid range.

One validation serves ``load_pipeline(name, **settings)``, torch.hub keyword arguments, the CLI's
``--set KEY=VALUE`` and the defaults of a registry entry: an unknown key gets the closest names, a wrong
type or an out-of-range value a :class:`~wsss_zoo.errors.ConfigError` that states the valid range --
before any network is loaded or any work starts (``exp_times=40`` would mean 2**40 random-walk steps).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: ``kind`` is ``"number"``, ``"int"``, ``"choice"``, ``"bool"``, ``"sizes"`` (list of
    integer pixel sizes) or ``"object"`` (a Python object, e.g. RIB's image pool; not settable from the CLI)."""

    kind: str
    doc: str
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    choices: Tuple[Any, ...] = ()
    nullable: bool = False
    exclusive_minimum: bool = False

    def describe(self) -> str:
        if self.kind == "choice":
            text = "one of " + ", ".join(map(repr, self.choices))
        elif self.kind in ("number", "int", "sizes"):
            low = "-inf" if self.minimum is None else f"{self.minimum:g}"
            high = "inf" if self.maximum is None else f"{self.maximum:g}"
            what = {"number": "a number", "int": "an integer", "sizes": "a list of integer sizes"}[self.kind]
            text = f"{what} in {'(' if self.exclusive_minimum else '['}{low}, {high}]"
        elif self.kind == "bool":
            text = "true or false"
        else:
            text = "a Python object (from Python only)"
        return text + (" or null" if self.nullable else "")

    def check(self, key: str, value, owner: str):
        """The value, normalised (ints as int, numbers as float); ConfigError naming the range otherwise."""
        def bad(why: str = "") -> ConfigError:
            return ConfigError(f"{owner} setting {key}={value!r} is invalid{why}: it must be {self.describe()} "
                               f"({self.doc})")

        if value is None:
            if self.nullable:
                return None
            raise bad()
        if self.kind == "object":
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad()
            return value
        if self.kind == "choice":
            if value not in self.choices:
                close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
                raise bad(f" (did you mean {close[0]!r}?)" if close else "")
            return value
        if self.kind == "sizes":
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
                raise bad()
            return tuple(self._number(key, v, integer=True, bad=bad) for v in value)
        return self._number(key, value, integer=self.kind == "int", bad=bad)

    def _number(self, key, value, *, integer: bool, bad):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        if not math.isfinite(value):
            raise bad()
        if integer:
            if float(value) != int(value):
                raise bad()
            value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and (value < self.minimum or (self.exclusive_minimum and value == self.minimum)):
            raise bad()
        if self.maximum is not None and value > self.maximum:
            raise bad()
        return value


def number(doc: str, minimum=None, maximum=None, *, exclusive_minimum: bool = False, nullable: bool = False):
    return Setting("number", doc, minimum, maximum, nullable=nullable, exclusive_minimum=exclusive_minimum)


def integer(doc: str, minimum=None, maximum=None, *, nullable: bool = False):
    return Setting("int", doc, minimum, maximum, nullable=nullable)


def choice(doc: str, *choices):
    return Setting("choice", doc, choices=tuple(choices))


def sizes(doc: str, minimum=8, maximum=4096):
    return Setting("sizes", doc, minimum, maximum)


def python_object(doc: str):
    return Setting("object", doc, nullable=True)


def fraction(doc: str):
    """A threshold on normalised maps, in [0, 1]."""
    return number(doc, 0.0, 1.0)


def validate(schema: Mapping[str, Setting], values: Mapping[str, Any], owner: str,
             defaults: Mapping[str, Any] = {}) -> dict:
    """Check ``values`` against ``schema``; returns them normalised. Unknown keys get close matches and the
    list of settings (with their ``defaults``)."""
    out = {}
    for key, value in values.items():
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=2)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            known = ", ".join((f"{k}={defaults[k]}" if k in defaults else k) + f" ({s.describe()})"
                              for k, s in schema.items()) or "none"
            raise ConfigError(f"{owner} has no setting {key!r}; {hint}its settings: {known}")
        out[key] = schema[key].check(key, value, owner)
    return out
