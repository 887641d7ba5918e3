"""The one registry shape behind every extensible kind (tasks, adaptation methods, backbone families, objectives).

A decorator adds a class under its names; a lookup of an unknown name is a config error that lists the known ones,
so a typo in a config costs seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from xlgen.errors import XlgenError

T = TypeVar("T", bound=type)


class Registry(dict):
    def __init__(self, kind: str, field: str, *, attr: str = "name", also_known: tuple[str, ...] = ()):
        super().__init__()
        self.kind, self.field, self.attr, self.also_known = kind, field, attr, also_known

    def register(self, *names: str) -> Callable[[T], T]:
        """Register a class under `names`; the first is its canonical name, set on the class as `attr`."""

        def deco(cls: T) -> T:
            setattr(cls, self.attr, names[0])
            for n in names:
                self[n] = cls
            return cls

        return deco

    def lookup(self, name: str):
        if name not in self:
            known = ", ".join([*self.also_known, *sorted(self)])
            raise XlgenError(f"{self.field}: unknown {self.kind} {name!r} (known: {known})")
        return self[name]
