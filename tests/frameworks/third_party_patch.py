"""A stand-in for a framework's source patch to SGLang: ``python third_party_patch.py DEST``.

Puts a copy of the installed SGLang at ``DEST/sglang`` (the edited files copied, the rest linked)
and makes its own release and resume handlers (the methods this package's scheduler patch wraps on
the release installed) call
``third_party_note.note(...)`` first, as slime's docker/patch/<version>/sglang.patch adds NCCL
pause/resume, disaggregation queues and HiCache there (THUDM/slime@624b824a). The handler is
found through the patch's own targets, so the edit lands where each release keeps it.
"""

import os
import shutil
import sys


def main(dest: str) -> None:
    import sglang_patch
    from sglang_patch_dev.range_check import Reader, Source

    scheduler_patch = sglang_patch.get("scheduler")
    # The handlers are found in SGLang's source as the range check finds targets (bases and mixins
    # followed), not by importing SGLang: an import costs 20-60 CPU-seconds here, per release.
    source = Source.installed()
    reader = Reader(source)
    edits = {}  # file, relative to the site directory -> [(line index, text to insert)]
    for what, target in (("release", scheduler_patch.release_target), ("resume", scheduler_patch.resume_target)):
        found, why = reader.resolve(target)
        assert found is not None and found.kind == "function", f"{target}: {why or found.kind}"
        node = found.node
        first = node.body[0]
        text = " " * first.col_offset + f'__import__("third_party_note").note("{what}", {node.args.args[1].arg})\n'
        edits.setdefault(os.path.normpath(found.module.path), []).append((first.lineno - 1, text))
    overlay(str(source.root), dest, "sglang", set(edits))
    for rel, inserts in edits.items():
        path = os.path.join(dest, rel)
        with open(path) as f:
            lines = f.readlines()
        for index, text in sorted(inserts, reverse=True):
            lines.insert(index, text)
        with open(path, "w") as f:
            f.writelines(lines)


def overlay(site: str, dest: str, rel: str, edited: set) -> None:
    """``dest/rel`` as a copy of ``site/rel`` where only the edited files are real copies: every
    folder on their way is a real folder, everything else a symlink into ``site``. Python compiles
    what it imports from a symlinked folder into that folder's ``__pycache__`` in ``site``, where
    the installed SGLang's own imports find it (a full copy started without compiled files, and
    each server compiled all of SGLang again: 20-40 CPU-seconds here)."""
    os.makedirs(os.path.join(dest, rel))
    for name in os.listdir(os.path.join(site, rel)):
        child = os.path.join(rel, name)
        if name == "__pycache__":
            continue  # this folder's own: the edited file's bytecode must not replace the installed one's
        if any(e.startswith(child + os.sep) for e in edited):
            overlay(site, dest, child, edited)
        elif child in edited:
            shutil.copy2(os.path.join(site, child), os.path.join(dest, child))
        else:
            os.symlink(os.path.join(site, child), os.path.join(dest, child))


if __name__ == "__main__":
    main(sys.argv[1])
