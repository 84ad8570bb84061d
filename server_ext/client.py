"""A small ``requests`` client for a trainer driving a patched SGLang server.

    from server_ext.client import SGLangClient
    c = SGLangClient("http://127.0.0.1:30000")
    c.release(["kv_cache", "weights"])        # before training
    c.resume(["weights"])                      # trainer still holds its copy
    c.update_weights_from_disk("/ckpt/step-100")
    c.resume(["kv_cache"])                     # after the trainer freed its copy
    c.generate("Hello", max_new_tokens=16)

Every call has a timeout; a non-2xx answer raises ``SGLangError`` carrying the status code and
the server's JSON (``message`` says what to fix; e.g. 503 from ``generate`` while memory is
released or the weights are not updated yet, 507 from ``resume`` when the device has no room
for it); an unreachable server raises
``requests.ConnectionError``/``Timeout`` as usual.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import requests


class SGLangError(RuntimeError):
    """The server answered with an error status."""

    def __init__(self, route: str, status: int, body: Any):
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"{route} -> HTTP {status}: {message or body}")
        self.route = route
        self.status = status
        self.body = body


class SGLangClient:
    def __init__(self, base_url: str, timeout: float = 300.0, api_key: Optional[str] = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    # -- plumbing -------------------------------------------------------------------------
    def _request(self, method: str, route: str, json: Any = None, timeout: Optional[float] = None) -> Any:
        r = self.session.request(method, self.base_url + route, json=json, timeout=timeout or self.timeout)
        try:
            body = r.json()
        except ValueError:
            body = r.text
        if not r.ok:
            raise SGLangError(route, r.status_code, body)
        return body

    # -- memory ---------------------------------------------------------------------------
    def release(
        self, tags: Optional[List[str]] = None, mode: Optional[str] = None, wait_timeout: Optional[float] = None
    ) -> Dict[str, Any]:
        """Release GPU memory by tag ("weights", "kv_cache"); None releases all.

        ``mode``: what happens to running requests — "wait" (server default), "abort", "reject";
        ``wait_timeout``: seconds the server waits for them (server default 60).
        """
        body: Dict[str, Any] = {} if tags is None else {"tags": tags}
        if mode is not None:
            body["mode"] = mode
        if wait_timeout is not None:
            body["timeout"] = wait_timeout
        return self._request("POST", "/release_memory_occupation", body, self.timeout + (wait_timeout or 60))

    def resume(self, tags: Optional[List[str]] = None) -> Dict[str, Any]:
        """Resume GPU memory by tag; None resumes all (weights first)."""
        return self._request("POST", "/resume_memory_occupation", {} if tags is None else {"tags": tags})

    def status(self) -> Dict[str, Any]:
        """GET /memory_occupation: released tags, whether the weights are current, per TP rank details."""
        return self._request("GET", "/memory_occupation")

    # -- weights --------------------------------------------------------------------------
    def update_weights_from_disk(self, model_path: str, load_format: Optional[str] = None) -> Dict[str, Any]:
        body = {"model_path": model_path}
        if load_format:
            body["load_format"] = load_format
        reply = self._request("POST", "/update_weights_from_disk", body)
        if not reply.get("success", False):
            raise SGLangError("/update_weights_from_disk", 200, reply)
        return reply

    def update_weights_from_tensor(self, serialized_named_tensors: List[str], flush_cache: bool = True) -> Dict[str, Any]:
        """``serialized_named_tensors``: one entry per TP rank, as made by
        ``sglang.srt.utils.MultiprocessingSerializer.serialize(named_tensors, output_str=True)``."""
        body = {"serialized_named_tensors": serialized_named_tensors, "flush_cache": flush_cache}
        reply = self._request("POST", "/update_weights_from_tensor", body)
        if not reply.get("success", False):
            raise SGLangError("/update_weights_from_tensor", 200, reply)
        return reply

    def get_weights_by_name(self, name: str, truncate_size: int = 100) -> Any:
        return self._request("POST", "/get_weights_by_name", {"name": name, "truncate_size": truncate_size})

    # -- serving --------------------------------------------------------------------------
    def generate(self, text, max_new_tokens: int = 16, temperature: float = 0.0, **sampling: Any) -> Any:
        params = {"max_new_tokens": max_new_tokens, "temperature": temperature, **sampling}
        return self._request("POST", "/generate", {"text": text, "sampling_params": params})

    def health(self) -> bool:
        try:
            return self.session.get(self.base_url + "/health", timeout=5).ok
        except requests.RequestException:
            return False

    def wait_until_ready(self, timeout: float = 300.0, poll: float = 1.0) -> None:
        """Block until the server answers a generate request (/health turns 200 before warm-up ends)."""
        deadline = time.monotonic() + timeout
        last: Exception = TimeoutError(f"server at {self.base_url} not ready after {timeout:.0f}s")
        while time.monotonic() < deadline:
            try:
                self.generate("ready?", max_new_tokens=1)
                return
            except (requests.RequestException, SGLangError) as e:
                last = e
                time.sleep(poll)
        raise TimeoutError(f"server at {self.base_url} not ready after {timeout:.0f}s: {last}")
