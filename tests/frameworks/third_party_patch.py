"""A stand-in for a framework's source patch to SGLang: ``python third_party_patch.py DEST``.

Copies the installed SGLang to ``DEST/sglang`` and makes its own release and resume handlers (the
methods this package's scheduler patch wraps on the release installed) call
``third_party_note.note(...)`` first, as slime's docker/patch/<version>/sglang.patch adds NCCL
pause/resume, disaggregation queues and HiCache there (THUDM/slime@624b824a). The handler is
found through the patch's own targets, so the edit lands where each release keeps it.
"""

import ast
import inspect
import os
import shutil
import sys


def main(dest: str) -> None:
    import sglang

    import sglang_patch

    scheduler_patch = sglang_patch.get("scheduler")
    package_root = os.path.dirname(os.path.dirname(sglang.__file__))
    # Compiled files come along (copytree keeps modification times, so they stay valid for every
    # file not edited below): the copy starts as fast as the installed SGLang.
    shutil.copytree(os.path.dirname(sglang.__file__), os.path.join(dest, "sglang"))
    edits = {}  # file in the copy -> [(line index, text to insert)]
    for what, target in (("release", scheduler_patch.release_target), ("resume", scheduler_patch.resume_target)):
        handler = scheduler_patch.original(target)
        source = inspect.getsourcefile(handler)
        with open(source) as f:
            tree = ast.parse(f.read())
        (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.lineno == handler.__code__.co_firstlineno]
        first = node.body[0]
        text = " " * first.col_offset + f'__import__("third_party_note").note("{what}", {node.args.args[1].arg})\n'
        edits.setdefault(os.path.join(dest, os.path.relpath(source, package_root)), []).append((first.lineno - 1, text))
    for path, inserts in edits.items():
        with open(path) as f:
            lines = f.readlines()
        for index, text in sorted(inserts, reverse=True):
            lines.insert(index, text)
        with open(path, "w") as f:
            f.writelines(lines)


if __name__ == "__main__":
    main(sys.argv[1])
