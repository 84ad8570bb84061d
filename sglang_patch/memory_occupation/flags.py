"""The server flags of tagged release/resume: ``ServerArgs`` fields and their command-line options."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    name: str  # the ServerArgs field; the option is --name-with-dashes
    type: type
    default: object
    help: str


FLAGS = (
    Flag(
        "weights_cpu_backup", bool, False,
        "Keep a copy of the weights in pinned host memory while their GPU memory is released, and copy it "
        "back on resume, so no weight update is needed after a resume (costs host memory the size of the "
        "weights). Without it, resumed weights hold no data until an update_weights_* call.",
    ),
    Flag(
        "allow_stale_weights", bool, False,
        "Let the model generate after 'weights' was resumed without a backup and before any weight update "
        "(the output is then garbage). By default such requests are refused with HTTP 503.",
    ),
    Flag(
        "resume_headroom_gb", float, 0.0,
        "GiB of device memory that must stay free after a resume (for a colocated trainer, NCCL, ...). A "
        "resume that would leave less answers HTTP 507 and keeps the tags released.",
    ),
)


def adopt_native_options(server_args) -> None:
    """Where SGLang has an option of its own for one of these flags, the flag turns it on instead of
    duplicating it: from 0.5, ``--weights-cpu-backup`` is ``--enable-weights-cpu-backup`` (the
    memory saver keeps the host copy of the weights' region)."""
    if getattr(server_args, "weights_cpu_backup", False) and hasattr(server_args, "enable_weights_cpu_backup"):
        server_args.enable_weights_cpu_backup = True


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tagged memory release/resume")
    for flag in FLAGS:
        option = "--" + flag.name.replace("_", "-")
        if flag.type is bool:
            group.add_argument(option, action="store_true", help=flag.help)
        else:
            group.add_argument(option, type=flag.type, default=flag.default, help=flag.help)
