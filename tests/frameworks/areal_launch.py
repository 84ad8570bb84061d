"""AReaL v1.0.4's launch of SGLang, replayed: ``python -m areal_launch <sglang.launch_server flags>``.

AReaL starts ``python3 -m areal.experimental.inference_service.sglang.launch_server`` as a
subprocess with a copy of its environment (areal/engine/sglang_remote.py:237-249). That module
launches SGLang with a scheduler entry of its own, ``areal_run_scheduler_process``
(areal/experimental/inference_service/sglang/launch_server.py:41-54; scheduler.py:130-216: stock
``run_scheduler_process`` plus its weight-update bridge bound to the scheduler). So the scheduler
process never runs SGLang's entry, nor this package's: ``SGLANG_TAGGED_MEMORY=1`` in the
environment is what patches it. AReaL copies ``http_server.launch_server`` to add routes of its
own; here SGLang's own ``launch_server`` takes the custom entry (0.5.10 on).
"""

import sys


def areal_run_scheduler_process(*args, **kwargs):
    """AReaL's scheduler entry: stock ``run_scheduler_process`` (its bridge adds RPC methods only)."""
    from sglang.srt.managers.scheduler import run_scheduler_process

    return run_scheduler_process(*args, **kwargs)


def main(argv) -> None:
    from sglang.srt.entrypoints.http_server import launch_server
    from sglang.srt.server_args import prepare_server_args

    import areal_launch  # the entry by its importable name: spawn pickles it by reference

    launch_server(prepare_server_args(argv), run_scheduler_process_func=areal_launch.areal_run_scheduler_process)


if __name__ == "__main__":
    main(sys.argv[1:])
