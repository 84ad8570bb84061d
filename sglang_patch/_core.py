"""The machinery every patch shares: version gate, the map of saved originals, apply/revert.

A patch is a small object with a name, the dotted targets it replaces, the SGLang versions it
supports, the process it must run in and the patches it ``requires``. Its state does not live on
the object: like gevent.monkey, one module-level map ``_SAVED`` keeps the original of every
patched target (first value wins), and like ddtrace, every replacement that can carry an
attribute is marked with the patch's name (``__sglang_patch__``). So any second ``apply()`` (the
module function, a fresh patch object, a child process re-applying) finds the target patched and
leaves it alone: nothing is ever wrapped twice. ``revert()`` puts the exact originals back.
Originals are read from the owner's ``__dict__`` so that staticmethod and classmethod wrappers
survive the round trip (wrapt does the same).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import logging
from typing import Any, Callable, Dict, Literal, Optional, Tuple, get_args

from packaging.specifiers import SpecifierSet
from packaging.version import Version

logger = logging.getLogger("sglang_patch")

_MISSING = object()

# (id(owner), attribute) -> (owner, the original value, the name of the patch that replaced it).
# First value wins: a target already in the map is never saved again, so its original cannot be
# lost. Keyed by id because some owners (FastAPI's router) are unhashable; the entry keeps the
# owner alive, so the id cannot be reused while it is in the map.
_SAVED: Dict[Tuple[int, str], Tuple[Any, Any, str]] = {}


class UnsupportedSGLangVersion(RuntimeError):
    """The installed SGLang is not one a patch was written for."""


@functools.lru_cache(maxsize=None)
def installed_sglang_version() -> str:
    """The installed SGLang release. Read once: every patch's version gate and every lookup of the
    patch set ask for it, and a metadata read costs ~2 ms (23 reads per apply before the cache)."""
    return importlib.metadata.version("sglang")


def check_version(patch_name: str, spec: str) -> None:
    from sglang_patch.versions import unsupported_message

    found = installed_sglang_version()
    if Version(found) in SpecifierSet(spec, prereleases=True):
        return
    raise UnsupportedSGLangVersion(unsupported_message(found, f"patch {patch_name!r} supports sglang{spec}"))


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


def _inherited(cls: type, attr: str) -> Any:
    """The entry ``cls`` inherits for ``attr`` (from its bases, as stored), else _MISSING."""
    for base in cls.__mro__[1:]:
        if attr in base.__dict__:
            return base.__dict__[attr]
    return _MISSING


def marker(value: Any) -> Optional[str]:
    """The name of the patch a value was made by (its ``__sglang_patch__``), or None."""
    return getattr(getattr(value, "__func__", value), "__sglang_patch__", None)


def patched_by(owner: Any, attr: str) -> Optional[str]:
    """Which patch replaced ``owner.attr``: read on the target itself, else in the saved map."""
    name = marker(_raw_attr(owner, attr))
    if name is None and (id(owner), attr) in _SAVED:
        name = _SAVED[(id(owner), attr)][2]
    return name


def mark_wrapper(wrapper: Callable, original: Callable, patch_name: str) -> Callable:
    """Give a replacement the original's module, name, ``__wrapped__`` and the patch's name (its own
    docs stay). The module and name make it pickle by reference as the original does: slime starts
    SGLang with ``multiprocessing.Process(target=launch_server)`` under spawn, which pickles the
    (patched) function by where it lives."""
    functools.update_wrapper(wrapper, original, assigned=("__module__", "__name__", "__qualname__"), updated=())
    wrapper.__sglang_patch__ = patch_name
    return wrapper


# What a dataclass's shape consists of: replacing these gives the class new fields in place.
def add_to_dispatcher(dispatcher, req_type: type, handler: Callable) -> None:
    """Route ``req_type`` to ``handler`` in an SGLang ``TypeBasedDispatcher``: its ``_mapping`` is a
    list of (type, handler) pairs up to 0.4.x, a dict from 0.5, whose lookup cache (``_mro_cache``)
    also remembers misses and is cleared here."""
    mapping = dispatcher._mapping
    if isinstance(mapping, list):
        mapping.append((req_type, handler))
        return
    mapping[req_type] = handler
    cache = getattr(dispatcher, "_mro_cache", None)
    if cache is not None:
        cache.clear()


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


@dataclasses.dataclass(frozen=True)
class Shape:
    """What a patch's wiring relies on in a name beyond its existence. ``sglang_patch_dev.range_check``
    reads it from the source of every release in the set's range, without importing SGLang; that
    each target exists, and that a class whose dataclass attributes are targets is a dataclass, it
    derives from ``targets`` itself."""

    # Parameters the function takes, by name (the wrapper passes them on; SGLang passes them in).
    params: Tuple[str, ...] = ()
    # Whether it is a staticmethod in its class (the patch unwraps ``__func__``).
    static: bool = False
    # Fields the class declares or inherits (the wiring builds or reads the request with them).
    fields: Tuple[str, ...] = ()
    # HTTP paths the target's module registers (the routes the patch replaces).
    routes: Tuple[str, ...] = ()


# Where a patch must be live: "scheduler" (scheduler processes), "server" (the process that runs the
# tokenizer manager, HTTP server or Engine), "launcher" (processes that spawn) or "all".
Process = Literal["scheduler", "server", "launcher", "all"]
PROCESSES: Tuple[str, ...] = get_args(Process)


class Patch:
    """One concern: subclasses set the class attributes and implement ``replacements()``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.process not in PROCESSES:  # a typo would leave the patch unapplied in every child process
            raise TypeError(f"{cls.__qualname__}.process is {cls.process!r}; choose from {PROCESSES}")

    name: str = ""
    # Dotted paths of every object this patch replaces or adds (documentation and tests read them).
    targets: Tuple[str, ...] = ()
    # Which SGLang versions this patch supports (a PEP 440 specifier); set by the patch set.
    sglang_spec: str = ""
    # Where it must be live (``Process``).
    process: Process = "all"
    # Patches this one cannot work without; selecting it selects them too (sglang_patch.apply).
    requires: Tuple[str, ...] = ()
    # One line for the manifest: what and why.
    summary: str = ""
    # Targets that do not exist in stock SGLang: the patch adds them (revert deletes them).
    adds: Tuple[str, ...] = ()
    # Whether patches/ carries the same change as a source patch (the spawn seam needs none).
    has_source_patch: bool = True
    # What the wiring relies on beyond the targets' existence: dotted name (a target, or a name the
    # wiring reads without replacing it) -> its Shape. Only the range check reads it.
    shapes: Dict[str, Shape] = {}

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
        """Whether this patch's targets are patched, whichever object or process applied it."""
        return all(patched_by(*resolve(t)) == self.name for t in self.targets)

    def original(self, dotted: str) -> Any:
        """The object a target held before any patch (the live one when not patched). For a class
        without an entry of its own, what it inherits: a patch then shadows the base class's, and
        revert deletes the entry again (SGLang 0.4.10 moved Scheduler methods into a mixin)."""
        owner, attr = resolve(dotted)
        saved = _SAVED.get((id(owner), attr))
        found = saved[1] if saved is not None else _raw_attr(owner, attr)
        if found is _MISSING and isinstance(owner, type):
            found = _inherited(owner, attr)
        return found

    def apply(self) -> None:
        """Replace every target; a no-op for targets this patch has already replaced."""
        if self.applied:
            return
        check_version(self.name, self.sglang_spec)
        self._check_requirements()
        new_by_target = self.replacements()
        if set(new_by_target) != set(self.targets):
            missing = sorted(set(self.targets) - set(new_by_target))
            extra = sorted(set(new_by_target) - set(self.targets))
            raise RuntimeError(
                f"patch {self.name!r}: replacements() must cover exactly its targets; missing {missing}, not declared {extra}"
            )
        for dotted, new in new_by_target.items():
            owner, attr = resolve(dotted)
            holder = patched_by(owner, attr)
            if holder == self.name:
                continue
            if holder is not None:
                raise RuntimeError(f"patch {self.name!r}: target {dotted} is already replaced by patch {holder!r}")
            _SAVED[(id(owner), attr)] = (owner, _raw_attr(owner, attr), self.name)
            setattr(owner, attr, new)
        logger.debug("applied patch %s", self.name)

    def _check_requirements(self) -> None:
        import sglang_patch

        missing = [name for name in self.requires if not sglang_patch.get(name).applied]
        if missing:
            raise RuntimeError(
                f"patch {self.name!r} requires {missing}, which are not applied: use "
                f"sglang_patch.apply([{self.name!r}]), which applies a patch's requirements first"
            )

    def revert(self) -> None:
        """Put back the exact originals of the targets this patch replaced (added ones are deleted)."""
        for dotted in reversed(self.targets):
            owner, attr = resolve(dotted)
            saved = _SAVED.get((id(owner), attr))
            if saved is None or saved[2] != self.name:
                continue
            original = saved[1]
            if original is _MISSING:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)
            del _SAVED[(id(owner), attr)]
        logger.debug("reverted patch %s", self.name)

    def __repr__(self) -> str:
        state = "applied" if self.applied else "not applied"
        return f"<Patch {self.name} ({state}) targets={list(self.targets)}>"


def derive_patch_set(base, version: str, replace: Optional[Dict[str, type]] = None, drop=()) -> Tuple["Patch", ...]:
    """A release's patch set made from an earlier release's: fresh patch objects in the same
    order, each gated to ``version``; ``replace`` maps a patch name to the class used instead,
    ``drop`` names patches left out."""
    from sglang_patch.versions import release_for

    spec = release_for(version).spec
    patches = tuple((replace or {}).get(p.name, type(p))() for p in base if p.name not in drop)
    for patch in patches:
        patch.sglang_spec = spec
    return patches
