"""A loopback server whose every answer is one large JSON document, for scripts/bench's
memory figures: `document` (4,800 members of 1 KB: 4.8 MB), `field` (one string member of
4.8 MB) or `tokens` (three 1 MB credentials by their names). Prints its FHIR base, then serves
until killed."""
import http.server
import sys

kind = sys.argv[1]
if kind == "field":
    body = '{"issuer": "x", "authorization_endpoint": "%s"}' % ("a" * 4_800_000)
elif kind == "document":
    parts = ['{"issuer": "x"']
    size, i = len(parts[0]), 0
    while size < 4_800_000:
        part = ',"member-%d": "%s"' % (i, "v" * 1000)
        parts.append(part)
        size, i = size + len(part), i + 1
    body = "".join(parts) + "}"
else:
    def token(c):
        return "".join("-" if i % 7 == 0 else c for i in range(1_000_000))
    body = '{"issuer": "x", "access_token": "%s", "refresh_token": "%s", "id_token": "%s"}' % (
        token("a"), token("r"), token("i"))
body = body.encode()


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
print(f"http://127.0.0.1:{server.server_address[1]}/fhir", flush=True)
server.serve_forever()
