"""The server flags of tagged release/resume: ``ServerArgs`` fields and their command-line options.

Each flag can also be turned on by an environment variable (``SGLANG_TAGGED_MEMORY_`` and its name
in capitals), for frameworks that start SGLang themselves and pass only the server options they
know (AReaL cannot pass ``--weights-cpu-backup``): the variable sets the flag's default, so the
command line still wins.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from .sglang_compat import has_native_weights_backup

ENV_PREFIX = "SGLANG_TAGGED_MEMORY_"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def env_switch(name: str) -> bool:
    """An on/off environment variable: 1/true/yes/on, or unset/0/false/no/off; anything else is an error."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"{name}={raw!r}: use 1 or 0 (true/false, yes/no, on/off)")
    return value in _TRUE


@dataclass(frozen=True)
class Flag:
    name: str  # the ServerArgs field; the option is --name-with-dashes
    type: type
    default: object
    help: str

    @property
    def env(self) -> str:
        """The environment variable that sets this flag's default."""
        return ENV_PREFIX + self.name.upper()

    def default_value(self):
        """The default: the environment variable's value when it is set, else ``default``."""
        raw = os.environ.get(self.env)
        if raw is None:
            return self.default
        if self.type is bool:
            return env_switch(self.env)
        try:
            return self.type(raw)
        except ValueError:
            raise ValueError(f"{self.env}={raw!r}: expected a {self.type.__name__}") from None


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
    if getattr(server_args, "weights_cpu_backup", False) and has_native_weights_backup(server_args):
        server_args.enable_weights_cpu_backup = True


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tagged memory release/resume")
    for flag in FLAGS:
        option = "--" + flag.name.replace("_", "-")
        help_text = f"{flag.help} Environment: {flag.env}."
        if flag.type is bool:
            group.add_argument(option, action="store_true", default=flag.default_value(), help=help_text)
        else:
            group.add_argument(option, type=flag.type, default=flag.default_value(), help=help_text)
