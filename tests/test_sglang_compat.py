"""memory_occupation's layout lookups (sglang_compat.py) and error codes (errors.py), without a server.

Each lookup is given the two layouts it tells apart, as plain objects shaped like the releases its
docstring names; the end-to-end tests run them against the real SGLang of each release.
"""

import dataclasses
from types import SimpleNamespace

from sglang_patch.memory_occupation import errors, sglang_compat


def test_error_codes_and_their_http_statuses_are_the_wire_protocol():
    assert errors.HTTP_STATUS == {
        "": 200, "invalid_request": 400, "busy": 409, "insufficient_memory": 507, "failed": 500,
        "memory_released": 503, "memory_releasing": 503, "weights_stale": 503,
    }
    assert (errors.OK, errors.BUSY, errors.INSUFFICIENT_MEMORY) == ("", "busy", "insufficient_memory")
    assert errors.REFUSED_STATUS == 503


def test_parallel_state_on_the_scheduler_or_its_ps():
    old = SimpleNamespace(tp_size=2, tp_rank=1, pp_size=1)  # up to 0.5.6
    assert sglang_compat.parallel_state(old) is old
    ps = SimpleNamespace(tp_size=2, tp_rank=1, pp_size=1)
    assert sglang_compat.parallel_state(SimpleNamespace(ps=ps, tp_size=2)) is ps  # 0.5.15.post1, 0.5.17


def test_grammar_queue_on_the_scheduler_or_its_grammar_manager():
    queue = [object()]
    assert sglang_compat.grammar_queue(SimpleNamespace(grammar_queue=queue)) is queue
    assert sglang_compat.grammar_queue(SimpleNamespace(grammar_manager=SimpleNamespace(grammar_queue=queue))) is queue


def test_batches_and_streamer():
    assert sglang_compat.batch_on_device(SimpleNamespace()) is False
    assert sglang_compat.batch_on_device(SimpleNamespace(result_queue=[1])) is True
    assert sglang_compat.finished_batch_slots(SimpleNamespace(last_batch=None, cur_batch=None)) == ["last_batch", "cur_batch"]
    assert sglang_compat.finished_batch_slots(SimpleNamespace(last_batch=None)) == ["last_batch"]
    streamer = SimpleNamespace()
    assert sglang_compat.output_streamer(SimpleNamespace(output_streamer=streamer)) is streamer
    bare = SimpleNamespace()
    assert sglang_compat.output_streamer(bare) is bare


def test_native_offload_tags_on_the_scheduler_or_its_weight_updater():
    tags = {"weights"}
    assert sglang_compat.native_offload_tags(SimpleNamespace(offload_tags=tags)) is tags
    assert sglang_compat.native_offload_tags(SimpleNamespace(weight_updater=SimpleNamespace(offload_tags=tags))) is tags
    assert sglang_compat.native_offload_tags(SimpleNamespace()) is None


def test_send_to_tokenizer_through_a_socket_or_a_sender():
    sent = []
    socket = SimpleNamespace(send_pyobj=lambda out: sent.append(("pyobj", out)))
    sglang_compat.send_to_tokenizer(SimpleNamespace(send_to_tokenizer=socket), "a", "req")
    sender = SimpleNamespace(send_output=lambda out, req: sent.append(("output", out, req)))
    sglang_compat.send_to_tokenizer(SimpleNamespace(ipc_channels=SimpleNamespace(send_to_tokenizer=sender)), "b", "req")
    assert sent == [("pyobj", "a"), ("output", "b", "req")]


def test_finish_after_this_step_up_to_0_4():
    req = SimpleNamespace(to_abort=False)
    sglang_compat.finish_after_this_step(req, "why")
    assert (req.to_abort, req.to_abort_message) == (True, "why")


def test_model_runner_under_the_overlap_wrapper_or_on_the_worker():
    runner = SimpleNamespace()
    assert sglang_compat.model_runner(SimpleNamespace(tp_worker=SimpleNamespace(model_runner=runner))) is runner
    wrapped = SimpleNamespace(worker=SimpleNamespace(model_runner=runner))
    assert sglang_compat.model_runner(SimpleNamespace(tp_worker=wrapped)) is runner


def test_graphs_captured_by_the_runner_it_has():
    def scheduler(**runner):
        return SimpleNamespace(tp_worker=SimpleNamespace(model_runner=SimpleNamespace(**runner)))

    assert sglang_compat.graphs_captured(scheduler(cuda_graph_runner=object())) is True
    assert sglang_compat.graphs_captured(scheduler(graph_runner=object())) is True
    assert sglang_compat.graphs_captured(scheduler(cuda_graph_runner=None)) is False


def test_weight_update_session_holder_only_where_sessions_exist():
    updater = SimpleNamespace(begin_weight_update=None, end_weight_update=None, _session=None)
    assert sglang_compat.weight_update_session_holder(SimpleNamespace(weight_updater=updater)) is updater
    assert sglang_compat.weight_update_session_holder(SimpleNamespace(weight_updater=SimpleNamespace())) is None
    assert sglang_compat.weight_update_session_holder(SimpleNamespace()) is None
    assert sglang_compat.update_selector(SimpleNamespace()) == "all"
    assert sglang_compat.update_selector(SimpleNamespace(selector="experts")) == "experts"


def test_server_args_and_manager_lookups():
    assert sglang_compat.has_native_weights_backup(SimpleNamespace(enable_weights_cpu_backup=False)) is True
    assert sglang_compat.has_native_weights_backup(SimpleNamespace()) is False
    assert sglang_compat.native_weights_backup(SimpleNamespace(enable_weights_cpu_backup=True)) is True
    assert sglang_compat.native_weights_backup(SimpleNamespace()) is False
    assert sglang_compat.weight_cache_mode(SimpleNamespace()) is None
    assert sglang_compat.weight_cache_mode(SimpleNamespace(weight_cache_mode="ipc")) == "ipc"
    assert sglang_compat.generation_paused(SimpleNamespace()) is False
    assert sglang_compat.generation_paused(SimpleNamespace(is_pause=True)) is True
    assert sglang_compat.generation_pause_condition(SimpleNamespace()) is None
    loop = object()
    assert sglang_compat.engine_loop(SimpleNamespace(loop=loop)) is loop


def test_request_fields_of_a_dataclass_or_a_msgspec_struct():
    @dataclasses.dataclass
    class Old:
        tags: list
        mode: str = "wait"

    class New:
        __struct_fields__ = ("tags", "mode", "timeout")

    assert sglang_compat.request_fields(Old) == ["tags", "mode"]
    assert sglang_compat.request_fields(New) == ["tags", "mode", "timeout"]
