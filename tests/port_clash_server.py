"""Run by test_server_process.py through ``ServerProcess(module="port_clash_server")``: a stand-in
for the *test harness's* subject only — ``ServerProcess`` starting a server again when a port was
taken — so those two cases cost no SGLang start (each cost a whole one: uvicorn binds its port
after the model has loaded). It fails the way SGLang does, with the same log lines the harness
watches for, and otherwise answers ``/generate`` as SGLang's readiness probe expects:

- ``--dist-init-addr HOST:PORT`` (torch.distributed's store) taken: torch's EADDRINUSE error, exit 1;
- ``--port`` taken: uvicorn's "error while attempting to bind on address", exit 1.

Nothing here touches the product: the real servers of the other modules cover that.
"""

import argparse
import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Generate(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the name http.server calls
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        tokens = int(body.get("sampling_params", {}).get("max_new_tokens", 1))
        reply = json.dumps({"text": " x" * tokens, "meta_info": {"completion_tokens": tokens}}).encode()
        self.send_response(200 if self.path == "/generate" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dist-init-addr")
    args, _ = parser.parse_known_args()
    store = None
    if args.dist_init_addr:
        host, port = args.dist_init_addr.rsplit(":", 1)
        store = socket.socket()
        try:
            store.bind((host, int(port)))
        except OSError:  # the message torch's TCPStore gives (SGLang's scheduler then dies)
            print(f"RuntimeError: The server socket has failed to listen on any local network address. "
                  f"port: {port}, useIpv6: 0, code: -98, name: EADDRINUSE, message: address already in use", flush=True)
            sys.exit(1)
        store.listen()
    try:
        server = HTTPServer((args.host, args.port), Generate)
    except OSError as e:  # uvicorn's words
        print(f"ERROR:    [Errno {e.errno}] error while attempting to bind on address ('{args.host}', {args.port}): "
              f"address already in use", flush=True)
        sys.exit(1)
    print("The server is fired up and ready to roll!", flush=True)  # SGLang's words once warm
    server.serve_forever()


if __name__ == "__main__":
    main()
