"""The machinery every patch shares: version gate, saved originals, apply/revert.

A patch is a small object with a name, the dotted targets it replaces, the SGLang versions it
supports and the process it must run in. ``apply()`` replaces each target and remembers the
original it found (first value wins, like gevent.monkey's ``saved`` map); ``revert()`` puts the
originals back in reverse order, so the targets are the exact objects they were before.
Applying twice is a no-op. Originals are read from the owner's ``__dict__`` so that
staticmethod and classmethod wrappers survive the round trip (wrapt does the same).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import logging
from typing import Any, Callable, Dict, List, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

logger = logging.getLogger("sglang_patch")

# The only release these patches were written against and tested on. SGLang >= 0.4.8 ships tagged
# release/resume itself (sgl-project/sglang#7099, RFC #7009), so the patches must not go there.
SUPPORTED_SGLANG = "==0.4.6.post5"

_MISSING = object()


class UnsupportedSGLangVersion(RuntimeError):
    """The installed SGLang is not one a patch was written for."""


def installed_sglang_version() -> str:
    return importlib.metadata.version("sglang")


def check_version(patch_name: str, spec: str) -> None:
    found = installed_sglang_version()
    if Version(found) in SpecifierSet(spec, prereleases=True):
        return
    raise UnsupportedSGLangVersion(
        f"sglang_patch: patch {patch_name!r} supports sglang{spec}, but found sglang {found}. "
        f"Install the supported release (pip install 'sglang==0.4.6.post5'), or, on sglang>=0.4.8, "
        f"do not apply sglang_patch: tagged release/resume is built in there."
    )


def resolve(dotted: str) -> Tuple[Any, str]:
    """'pkg.mod.Class.attr' -> (the owner object, 'attr'), importing the module part."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        try:
            owner = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and (module == e.name or module.startswith(e.name + ".")):
                continue  # this prefix is not a module: try a shorter one
            raise  # the module exists but one of its own imports is missing
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1]
    raise ImportError(f"cannot resolve patch target {dotted!r}")


def _raw_attr(owner: Any, attr: str) -> Any:
    """The attribute as stored: a class's own __dict__ entry (staticmethod kept), else getattr."""
    if isinstance(owner, type):
        return owner.__dict__.get(attr, _MISSING)
    return getattr(owner, attr, _MISSING)


def mark_wrapper(wrapper: Callable, original: Callable, patch_name: str) -> Callable:
    """Give a replacement the original's name, ``__wrapped__`` and the patch's name (its own docs stay)."""
    functools.update_wrapper(wrapper, original, assigned=("__name__", "__qualname__"), updated=())
    wrapper.__sglang_patch__ = patch_name
    return wrapper


# What a dataclass's shape consists of: replacing these gives the class new fields in place.
DATACLASS_ATTRS = ("__init__", "__repr__", "__eq__", "__dataclass_fields__", "__annotations__", "__match_args__")


def widened_dataclass(cls: type, extra) -> Dict[str, Any]:
    """The dataclass attributes ``cls`` would have with ``extra`` fields ((name, type, field)) appended.

    Replacing those attributes on ``cls`` adds the fields to the existing class object, which
    modules that imported it by name keep seeing. A ``__post_init__`` keeps being called.
    """
    have = {f.name for f in dataclasses.fields(cls)}
    current = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    namespace = {"__post_init__": cls.__post_init__} if hasattr(cls, "__post_init__") else None
    shape = dataclasses.make_dataclass(
        cls.__name__, current + [spec for spec in extra if spec[0] not in have], namespace=namespace
    )
    shape.__init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return {attr: shape.__dict__[attr] for attr in DATACLASS_ATTRS}


class Patch:
    """One concern: subclasses set the class attributes and implement ``replacements()``."""

    name: str = ""
    # Dotted paths of every object this patch replaces (documentation and tests read them).
    targets: Tuple[str, ...] = ()
    # Which SGLang versions this patch supports (a PEP 440 specifier).
    sglang_spec: str = SUPPORTED_SGLANG
    # Where it must be live: "scheduler" (scheduler processes), "server" (the process that runs
    # the tokenizer manager, HTTP server or Engine) or "all".
    process: str = "all"
    # One line for the manifest: what and why.
    summary: str = ""
    # Targets that do not exist in stock SGLang: the patch adds them (revert deletes them).
    adds: Tuple[str, ...] = ()
    # Whether patches/ carries the same change as a source patch (the spawn seam needs none).
    has_source_patch: bool = True

    def __init__(self) -> None:
        self._saved: List[Tuple[Any, str, Any]] = []

    # -- to implement --------------------------------------------------------------------
    def replacements(self) -> Dict[str, Any]:
        """Map each dotted target to its replacement; originals are available via original()."""
        raise NotImplementedError

    # -- shared behaviour ----------------------------------------------------------------
    def marked(self, new_by_target: Dict[str, Callable]) -> Dict[str, Callable]:
        """``replacements()`` helper: each new function marked as wrapping its target's original;
        a target this patch ``adds`` has no original, so it only gets the patch's name."""
        out = {}
        for target, fn in new_by_target.items():
            if target in self.adds:
                fn.__sglang_patch__ = self.name
                out[target] = fn
            else:
                out[target] = mark_wrapper(fn, self.original(target), self.name)
        return out

    def widened(self, dotted_cls: str, cls: type, extra) -> Dict[str, Any]:
        """``replacements()`` helper: the dataclass attributes that give ``cls`` (at ``dotted_cls``)
        the ``extra`` fields, the callable ones marked with the patch's name."""
        out = {}
        for attr, value in widened_dataclass(cls, extra).items():
            if callable(value):
                value.__sglang_patch__ = self.name
            out[f"{dotted_cls}.{attr}"] = value
        return out

    @property
    def applied(self) -> bool:
        return bool(self._saved)

    def original(self, dotted: str) -> Any:
        """The object a target held before any patch (the live one when not applied)."""
        owner, attr = resolve(dotted)
        for saved_owner, saved_attr, value in self._saved:
            if saved_owner is owner and saved_attr == attr:
                return value
        return _raw_attr(owner, attr)

    def apply(self) -> None:
        if self.applied:
            return
        check_version(self.name, self.sglang_spec)
        for dotted, new in self.replacements().items():
            owner, attr = resolve(dotted)
            old = _raw_attr(owner, attr)
            self._saved.append((owner, attr, old))
            setattr(owner, attr, new)
        logger.debug("applied patch %s", self.name)

    def revert(self) -> None:
        while self._saved:
            owner, attr, old = self._saved.pop()
            if old is _MISSING:
                delattr(owner, attr)
            else:
                setattr(owner, attr, old)
        logger.debug("reverted patch %s", self.name)

    def __repr__(self) -> str:
        state = "applied" if self.applied else "not applied"
        return f"<Patch {self.name} ({state}) targets={list(self.targets)}>"
