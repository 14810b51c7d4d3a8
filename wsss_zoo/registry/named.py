"""One generic registry of named objects: builders, checkpoint layouts, recipes, pipelines, training tasks.

Plugin modules register what they provide with a decorator (``@ARCHITECTURES.register("resnet38_cls")``);
a lookup imports the modules that register (``modules`` / every public submodule of ``packages``) on
first use, so ``import wsss_zoo`` stays light. Registering a second, different object under a name
already taken is an error, never a silent overwrite; an unknown name is an
:class:`~wsss_zoo.errors.UnknownNameError` with the closest known names.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
import threading
from typing import Dict, Generic, Iterator, List, Optional, Sequence, Tuple, TypeVar

from ..errors import RegistryError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object, filled by decorators in plugin modules that are imported on first lookup.

    ``kind`` names the objects in messages ("checkpoint layout"); ``modules`` are imported and every
    public (non ``_``-prefixed) submodule of each of ``packages`` is imported before the first lookup.
    """

    def __init__(self, kind: str, *, modules: Sequence[str] = (), packages: Sequence[str] = (), hint: str = ""):
        self.kind = kind
        self.hint = hint
        self._modules = tuple(modules)
        self._packages = tuple(packages)
        self._items: Dict[str, T] = {}
        self._loaded = not (self._modules or self._packages)
        self._lock = threading.RLock()

    # registration ---------------------------------------------------------------------------
    def register(self, name: str, obj: Optional[T] = None):
        """Register ``obj`` as ``name``; without ``obj``, a decorator that registers what it decorates."""
        if obj is None:
            def deco(target: T) -> T:
                self.register(name, target)
                return target

            return deco
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        with self._lock:
            old = self._items.get(name)
            if old is not None and old is not obj:
                raise RegistryError(f"{self.kind} {name!r} is registered twice ({_describe(old)} and "
                                    f"{_describe(obj)}); give the new one another name")
            self._items[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and interactive sessions that re-define a plugin)."""
        with self._lock:
            self._items.pop(name, None)

    # lookups ----------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        self.load()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise self.unknown(name) from None

    __getitem__ = get

    def values(self) -> List[T]:
        return [obj for _, obj in self.items()]

    def __contains__(self, name) -> bool:
        self.load()
        return name in self._items

    def names(self) -> List[str]:
        self.load()
        return sorted(self._items)

    def items(self) -> List[Tuple[str, T]]:
        """``(name, object)`` in registration order."""
        self.load()
        return list(self._items.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._items)} registered)"

    def unknown(self, name) -> UnknownNameError:
        """The error for a name this registry does not hold, with close matches."""
        known = sorted(self._items)
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        if close:
            tail = f"; did you mean {', '.join(close)}?"
        elif self.hint:
            tail = f"; {self.hint}"
        else:
            tail = f"; known: {', '.join(known) or 'none'}"
        return UnknownNameError(f"unknown {self.kind} {name!r}{tail}")

    # lazy plugin import -----------------------------------------------------------------------
    def load(self) -> None:
        """Import the plugin modules once (safe to call from several threads)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            for module in self._modules:
                importlib.import_module(module)
            for package in self._packages:
                _import_submodules(package)
            self._loaded = True


def _import_submodules(package: str) -> None:
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


def _describe(obj) -> str:
    module = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None) or type(obj).__name__
    return f"{module}.{qual}" if module else qual


__all__ = ["Registry"]
