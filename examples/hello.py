"""The smallest Python WSGI app: plain PEP 3333, no framework.

    deno run -A server.ts --workers 2 examples/hello.py
"""


def application(environ, start_response):
    body = b"Hello from Python\n"
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
