"""Run by test_startup.py: ``sglang.Engine(..., enable_memory_saver=True)`` on a machine where the
memory saver cannot start (the real torch_memory_saver, no NVIDIA driver). Prints one JSON line.

    python tests/startup_scenario.py MODEL_DIR
"""

import json
import sys
import time


def main(model_path: str) -> dict:
    from server_ext import cpu_compat

    cpu_compat.enable()
    import sglang_patch

    sglang_patch.apply()
    from sglang.srt.entrypoints.engine import Engine  # imported before the clock starts: on two
    # busy cores SGLang's imports alone take 10-30 s, and they are not what is measured

    from sglang_patch_dev.device_flags import engine_kwargs

    started = time.monotonic()
    try:
        Engine(model_path=model_path, enable_memory_saver=True, log_level="error", **engine_kwargs("cpu"))
        return {"raised": None}
    except Exception as e:
        return {"raised": type(e).__name__, "message": str(e), "seconds": time.monotonic() - started}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
