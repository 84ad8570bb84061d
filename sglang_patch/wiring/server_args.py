"""Patch ``server_args``: the flags ``--weights-cpu-backup``, ``--allow-stale-weights`` and
``--resume-headroom-gb``.

``ServerArgs`` (server_args.py) is a dataclass that ``prepare_server_args`` fills from argparse
(``from_cli_args`` reads ``dataclasses.fields``) and ``Engine(**kwargs)`` constructs directly. The
fields are added to the existing class in place (as in ``io_structs``; ``__post_init__`` still
runs), and ``add_cli_args`` gains the options. The flags and their help live in
``sglang_patch.memory_occupation.flags``, shared with the source series. Spawned schedulers
receive the ServerArgs object pickled with the fields' values.
"""

from __future__ import annotations

import dataclasses

from sglang_patch._core import DATACLASS_ATTRS, Patch, Shape, mark_wrapper
from sglang_patch.memory_occupation import flags

SERVER_ARGS = "sglang.srt.server_args.ServerArgs."


class ServerArgsPatch(Patch):
    name = "server_args"
    targets = tuple(SERVER_ARGS + attr for attr in DATACLASS_ATTRS) + (SERVER_ARGS + "add_cli_args",)
    shapes = {SERVER_ARGS + "add_cli_args": Shape(params=("parser",), static=True)}
    process = "all"
    summary = "ServerArgs gains --weights-cpu-backup, --allow-stale-weights, --resume-headroom-gb"

    def replacements(self):
        from sglang.srt.server_args import ServerArgs

        extra = [(f.name, f.type, dataclasses.field(default=f.default_value())) for f in flags.FLAGS]
        out = self.widened(SERVER_ARGS.rstrip("."), ServerArgs, extra)

        stock_add = self.original(SERVER_ARGS + "add_cli_args").__func__  # a staticmethod in the class dict

        def add_cli_args(parser):
            stock_add(parser)
            flags.add_cli_args(parser)

        out[SERVER_ARGS + "add_cli_args"] = staticmethod(mark_wrapper(add_cli_args, stock_add, self.name))
        return out
