"""``python -m server_ext.launch <sglang.launch_server flags>``: the SGLang server, patched.

Every flag of ``python -m sglang.launch_server`` works unchanged. The patches are applied in this
process before SGLang parses anything, and reach the scheduler processes SGLang spawns through
the ``subprocess_entry`` patch. A child process that dies during start-up ends the launcher at
once with the reason and exit status 1 (the ``startup_watch`` patch). With ``--device cpu`` the
CPU compat for vllm is put on the path first (see ``server_ext.cpu_compat``). With ``SGLANG_PATCH_RUNTIME=off`` nothing is patched and
the SGLang on the path must be one built from patches/ (docs/source-patches.md).
"""

import os
import sys


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    from server_ext import cpu_compat

    if cpu_compat.wants_cpu(argv):
        cpu_compat.enable()

    import sglang_patch

    sglang_patch.apply()

    # The same three lines as sglang/launch_server.py's __main__ block.
    from sglang.srt.entrypoints.http_server import launch_server
    from sglang.srt.server_args import prepare_server_args
    from sglang.srt.utils import kill_process_tree

    server_args = prepare_server_args(argv)
    try:
        launch_server(server_args)
    except sglang_patch.StartupError as e:  # a child died during start-up: say why, exit non-zero
        print(f"server_ext.launch: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        kill_process_tree(os.getpid(), include_parent=False)


if __name__ == "__main__":
    main()
