"""Hello world as a plain WSGI callable, for bench/gunicorn.ts.

The same answer as bench/apps/hello.ts: 13 bytes of text/plain with a
Content-Length, so gunicorn and server.ts send the same response.
"""

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
