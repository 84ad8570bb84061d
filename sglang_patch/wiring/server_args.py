"""Patch ``server_args``: the flags ``--weights-cpu-backup``, ``--allow-stale-weights`` and
``--resume-headroom-gb``.

``ServerArgs`` (server_args.py) is a dataclass that ``prepare_server_args`` fills from argparse
(``from_cli_args`` reads ``dataclasses.fields``) and ``Engine(**kwargs)`` constructs directly. The
fields are added to the existing class in place (as in ``io_structs``; ``__post_init__`` still
runs), and ``add_cli_args`` gains the options. The flags and their help live in
``sglang_patch.memory_occupation.flags``, shared with the source series. Spawned schedulers
receive the ServerArgs object pickled with the fields' values.

``ServerArgsRecordPatch``, next to the base, is the variant for a ``ServerArgs`` that is a msgspec
record (0.5.23 on).
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

from sglang_patch._core import DATACLASS_ATTRS, Patch, Shape, mark_wrapper
from sglang_patch.memory_occupation import flags

SERVER_ARGS = "sglang.srt.server_args.ServerArgs."
ADD_CLI = SERVER_ARGS + "add_cli_args"
POST_INIT = SERVER_ARGS + "__post_init__"


class ServerArgsPatch(Patch):
    """The flags on a ``ServerArgs`` dataclass (0.4.6.post5 to 0.5.17).

    Hooks (class attributes; ``targets`` follow from them):
    - ``adopts_native_options``: SGLang keeps a host copy of the weights itself
      (``--enable-weights-cpu-backup``, 0.5.3 on): ``--weights-cpu-backup`` turns it on in
      ``__post_init__``, which is wrapped too.
    """

    name = "server_args"
    adopts_native_options: bool = False
    shapes = {ADD_CLI: Shape(params=("parser",), static=True)}
    process = "all"
    summary = "ServerArgs gains --weights-cpu-backup, --allow-stale-weights, --resume-headroom-gb"

    @property
    def targets(self) -> Tuple[str, ...]:
        return tuple(SERVER_ARGS + attr for attr in DATACLASS_ATTRS) + (ADD_CLI,) + ((POST_INIT,) if self.adopts_native_options else ())

    def replacements(self):
        from sglang.srt.server_args import ServerArgs

        extra = [(f.name, f.type, dataclasses.field(default=f.default_value())) for f in flags.FLAGS]
        out = self.widened(SERVER_ARGS.rstrip("."), ServerArgs, extra)

        stock_add = self.original(ADD_CLI).__func__  # a staticmethod in the class dict

        def add_cli_args(parser):
            stock_add(parser)
            flags.add_cli_args(parser)

        out[ADD_CLI] = staticmethod(mark_wrapper(add_cli_args, stock_add, self.name))
        if self.adopts_native_options:
            stock_post_init = self.original(POST_INIT)

            def __post_init__(args):
                flags.adopt_native_options(args)
                stock_post_init(args)

            out[POST_INIT] = mark_wrapper(__post_init__, stock_post_init, self.name)
        return out


# -- a msgspec record (0.5.23 on) --------------------------------------------------

FROM_CLI = SERVER_ARGS + "from_cli_args"
RESOLVE = SERVER_ARGS + "resolve_once"
RESOLVED_DICT = SERVER_ARGS + "resolved_dict"
ENGINE_ARGS = "sglang.srt.entrypoints.engine.Engine.server_args_class"


def _fill_flags(record) -> None:
    """Every flag the record lacks gets its default, then SGLang's own options follow the flags."""
    for flag in flags.FLAGS:
        if flag.name not in record.__dict__:
            setattr(record, flag.name, flag.default_value())
    flags.adopt_native_options(record)


class ServerArgsRecordPatch(Patch):
    """Variant (0.5.23 on): the flags of every release on a ``ServerArgs`` that is a msgspec record.

    SGLang 0.5.23's ``ServerArgs`` (server_args.py:231, built by ``msgspec.defstruct(..., dict=True)``
    at :551) is no dataclass: it cannot gain fields in place, and msgspec calls the ``__post_init__``
    it found when the class was built, so a replaced one never runs. Its records carry a ``__dict__``
    for what is not a field (``__reduce__``, :498, pickles it to the spawned processes), and its
    ``__setattr__`` (:474) seals the input only once ``resolve_once`` (:244) starts. So the flags
    (``sglang_patch.memory_occupation.flags``) live there, as attributes, and every way in sets them:
    - the command line: ``add_cli_args`` gains the options, ``from_cli_args`` (:446) copies them over;
    - ``Engine(weights_cpu_backup=True, ...)``: ``Engine.server_args_class`` (entrypoints/engine.py:264,
      called at :297 with the keyword arguments) takes the flags off and sets them on the record;
    - anything else (a record built directly): ``resolve_once``, which every launch runs
      (runtime_context.publish), fills an absent flag with its default (the environment's value) and
      turns ``--weights-cpu-backup`` into SGLang's own ``enable_weights_cpu_backup`` before sealing;
    - ``/server_info`` reports fields only (``resolved_dict``, :316): the flags are added.
    """

    name = "server_args"
    targets = (ADD_CLI, FROM_CLI, RESOLVE, RESOLVED_DICT, ENGINE_ARGS)
    process = "all"
    summary = "ServerArgs gains --weights-cpu-backup, --allow-stale-weights, --resume-headroom-gb"

    def replacements(self):
        stock_add = self.original(ADD_CLI).__func__  # a staticmethod in the class dict
        stock_from = self.original(FROM_CLI).__func__  # a classmethod
        stock_resolve = self.original(RESOLVE)
        stock_resolved_dict = self.original(RESOLVED_DICT)
        stock_class = self.original(ENGINE_ARGS)
        names = tuple(flag.name for flag in flags.FLAGS)

        def add_cli_args(parser):
            stock_add(parser)
            flags.add_cli_args(parser)

        def from_cli_args(cls, args):
            record = stock_from(cls, args)
            for name in names:
                if hasattr(args, name):
                    setattr(record, name, getattr(args, name))
            return record

        def resolve_once(record):
            if not getattr(record, "_resolution_finished", False):
                _fill_flags(record)
            return stock_resolve(record)

        def resolved_dict(record):
            out = stock_resolved_dict(record)
            for flag in flags.FLAGS:
                out[flag.name] = getattr(record, flag.name, flag.default_value())
            return out

        def server_args_class(**kwargs):
            given = {name: kwargs.pop(name) for name in names if name in kwargs}
            record = stock_class(**kwargs)
            for name, value in given.items():
                setattr(record, name, value)
            return record

        return {
            ADD_CLI: staticmethod(mark_wrapper(add_cli_args, stock_add, self.name)),
            FROM_CLI: classmethod(mark_wrapper(from_cli_args, stock_from, self.name)),
            RESOLVE: mark_wrapper(resolve_once, stock_resolve, self.name),
            RESOLVED_DICT: mark_wrapper(resolved_dict, stock_resolved_dict, self.name),
            ENGINE_ARGS: staticmethod(mark_wrapper(server_args_class, stock_class, self.name)),
        }
