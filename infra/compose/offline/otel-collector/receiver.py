"""Accepts OTLP/HTTP exports on port 4318 and logs each one: path, content type, size."""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        print(
            f"otlp export {self.path} {length} bytes {self.headers.get('Content-Type')}",
            flush=True,
        )
        # An empty Export*ServiceResponse: zero bytes of protobuf.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    print(f"otlp receiver on :4318 (arguments ignored: {sys.argv[1:]})", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 4318), Receiver).serve_forever()
