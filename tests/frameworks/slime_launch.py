"""slime main's launch of SGLang, replayed: ``python -m slime_launch <sglang.launch_server flags>``.

slime/backends/sglang_utils/sglang_engine.py ``launch_server_process`` (THUDM/slime@624b824a,
lines 31-64): the Ray actor drops ``PYTORCH_CUDA_ALLOC_CONF``, imports SGLang's
``http_server.launch_server``, sets the start method to spawn and runs ``launch_server`` in a
child ``multiprocessing.Process``; the child inherits the actor's environment. Nothing here
imports sglang_patch: ``SGLANG_TAGGED_MEMORY=1`` in the environment is the only switch.
slime builds ``ServerArgs`` from its own flags; here they come from the command line.
"""

import multiprocessing
import os
import sys


def main(argv) -> int:
    from sglang.srt.entrypoints.http_server import launch_server
    from sglang.srt.server_args import prepare_server_args

    for name in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"):
        os.environ.pop(name, None)
    server_args = prepare_server_args(argv)
    multiprocessing.set_start_method("spawn", force=True)
    process = multiprocessing.Process(target=launch_server, args=(server_args,))
    process.start()
    process.join()
    return process.exitcode or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
