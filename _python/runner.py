"""The Python side of pythonApp(): one worker process of the pool.

It imports the app from its file, connects to the Deno side's unix socket
once per thread, and serves one request at a time on each connection, as
wsgiref's BaseHandler does (start_response with exc_info, write(), headers
held back until the first non-empty chunk, close() exactly once). The
channel is the socket, never stdin/stdout, so print() in the app goes to the
terminal and cannot corrupt it.

A frame is one type byte, a 4-byte big-endian length, then the payload.
Deno -> Python: H (the environ's str items), B (request body bytes, empty at
the end; the answer to R), C (credit: the last D was taken), X (the client
went away, or Deno refused the response: stop).
Python -> Deno: O (ready), L (the app did not load), R (want up to n body
bytes), W (text for wsgi.errors), S (status and headers), D (body bytes),
F (request done), E (request failed, with its traceback).
A C or X that crosses the request's end (a body sent whole needs no credit)
is stale, and the idle loop drops it.
"""

import contextlib
import importlib
import inspect
import io
import itertools
import json
import os
import signal
import struct
import socket
import sys
import threading
import time
import traceback
from wsgiref.util import FileWrapper

FRAME = struct.Struct(">cI")
LENGTH = struct.Struct(">I")
CHUNK = 65536


class ClientDisconnected(ConnectionAbortedError):
    """Deno said stop: the client went away or the response was refused."""


class Channel:
    """Frames over one connection; sends from any thread, reads from one."""

    def __init__(self, sock):
        self.sock = sock
        self.file = sock.makefile("rb")
        self.lock = threading.Lock()

    def send(self, kind, payload=b""):
        head = FRAME.pack(kind, len(payload))
        with self.lock:
            # One write for small frames; no copy of a large chunk.
            if len(payload) < CHUNK:
                self.sock.sendall(head + payload)
            else:
                self.sock.sendall(head)
                self.sock.sendall(payload)

    def send_all(self, frames):
        """Several small frames in one write."""
        parts = []
        for kind, payload in frames:
            parts += (FRAME.pack(kind, len(payload)), payload)
        data = b"".join(parts)
        with self.lock:
            self.sock.sendall(data)

    def recv(self):
        head = self.file.read(FRAME.size)
        if len(head) < FRAME.size:
            raise EOFError
        kind, length = FRAME.unpack(head)
        payload = self.file.read(length) if length else b""
        if len(payload) < length:
            raise EOFError
        return kind, payload


def encode_pairs(pairs):
    out = []
    for name, value in pairs:
        name = name.encode("latin-1")
        value = value.encode("latin-1")
        out += (LENGTH.pack(len(name)), name, LENGTH.pack(len(value)), value)
    return b"".join(out)


def decode_into(environ, payload):
    """Adds the pairs of payload to environ. The payload is decoded once
    and cut at the fields' lengths: a decode per field cost more than the
    rest of the runner's work on a request."""
    text = payload.decode("latin-1")
    unpack = LENGTH.unpack_from
    at = 0
    end = len(payload)
    while at < end:
        (length,) = unpack(payload, at)
        name = text[at + 4:at + 4 + length]
        at += 4 + length
        (length,) = unpack(payload, at)
        environ[name] = text[at + 4:at + 4 + length]
        at += 4 + length
    return environ


class Input:
    """wsgi.input: asks Deno for body bytes only as the app reads them."""

    def __init__(self, request):
        self._request = request
        self._buffer = b""
        self._eof = False

    def _fill(self, want):
        if self._eof:
            return b""
        data = self._request.ask(want)
        if not data:
            self._eof = True
        return data

    def read(self, size=-1):
        if size is None or size < 0:
            parts = [self._buffer]
            self._buffer = b""
            while True:
                data = self._fill(CHUNK)
                if not data:
                    return b"".join(parts)
                parts.append(data)
        parts = [self._buffer]
        have = len(self._buffer)
        # In frames of at most CHUNK, so that read(10**9) holds no more
        # than the body has.
        while have < size and not self._eof:
            data = self._fill(min(size - have, CHUNK))
            parts.append(data)
            have += len(data)
        data = b"".join(parts)
        data, self._buffer = data[:size], data[size:]
        return data

    def readline(self, size=-1):
        limit = size if size is not None and size >= 0 else sys.maxsize
        while b"\n" not in self._buffer[:limit] and len(self._buffer) < limit:
            data = self._fill(min(CHUNK, limit - len(self._buffer)))
            if not data:
                break
            self._buffer += data
        end = self._buffer.find(b"\n", 0, limit)
        cut = min(limit, len(self._buffer)) if end < 0 else end + 1
        line, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return line

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class Errors:
    """wsgi.errors: text goes to the server's errors sink over the channel."""

    def __init__(self, channel):
        self._channel = channel

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("wsgi.errors.write() takes a str")
        if text:
            self._channel.send(b"W", text.encode("utf-8", "backslashreplace"))

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass


class Request:
    """One request on one connection, the way BaseHandler runs one."""

    def __init__(self, channel, base, payload):
        self.channel = channel
        self.environ = decode_into(base.copy(), payload)
        self.environ["wsgi.input"] = Input(self)
        self.status = None
        self.headers = None
        self.headers_sent = False
        self.head = None

    def ask(self, want):
        self.channel.send(b"R", LENGTH.pack(want))
        kind, payload = self.channel.recv()
        if kind == b"X":
            raise ClientDisconnected("the client went away")
        return payload

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("Headers already set!")
        if type(status) is not str:
            raise AssertionError("Status must be of type str")
        if type(headers) is not list:
            raise AssertionError("Headers must be of type list")
        for header in headers:
            if type(header) is not tuple or len(header) != 2:
                raise AssertionError("Each header must be a (name, value) tuple")
            if type(header[0]) is not str or type(header[1]) is not str:
                raise AssertionError("Header names and values must be of type str")
        self.status = status
        self.headers = headers
        return self.write

    def commit_headers(self):
        """From here the headers count as sent (PEP 3333); they go out on
        the wire with the first data, in one write."""
        if self.status is None:
            raise AssertionError("start_response() was not called")
        self.head = encode_pairs([("", self.status)] + list(self.headers))
        self.headers_sent = True

    def take_head(self):
        frames = [(b"S", self.head)] if self.head is not None else []
        self.head = None
        return frames

    def write(self, data):
        if type(data) is not bytes:
            raise TypeError("write() argument must be a bytes instance")
        if not self.headers_sent:
            self.commit_headers()
        frames = self.take_head()
        if data:
            frames.append((b"D", data))
        if not frames:
            return
        self.channel.send_all(frames)
        if not data:
            return
        # Back-pressure: the next chunk waits until Deno took this one.
        kind, _ = self.channel.recv()
        if kind == b"X":
            raise ClientDisconnected("the client went away")

    def completes(self, data):
        """Whether data is the whole body the app's Content-Length declares."""
        for name, value in self.headers:
            if name.lower() == "content-length":
                return value.strip() == str(len(data))
        return False

    def run(self, app):
        result = None
        failure = None
        # A chunk that is the whole body is held until the iterable ends, to
        # go out with the end in one write: Deno answers it as a body in
        # memory, with no round trip for credit.
        held = None
        try:
            result = app(self.environ, self.start_response)
            whole = type(result) in (list, tuple) and len(result) <= 1
            for data in result:
                if type(data) is not bytes:
                    raise TypeError(
                        "the app's iterable must yield bytes, not "
                        + type(data).__name__
                    )
                if not data:
                    continue
                if held is not None:
                    self.write(held)
                    held = None
                    self.write(data)
                elif not self.headers_sent and (whole or self.completes(data)):
                    self.commit_headers()
                    held = data
                else:
                    self.write(data)
            if not self.headers_sent:
                self.commit_headers()
        except ClientDisconnected:
            held = None
        except BaseException as error:
            failure = (debug_traceback(error) if DEBUG["on"]
                       else traceback.format_exc())
        finally:
            # PEP 3333: close() once, whatever happened above.
            if hasattr(result, "close"):
                try:
                    result.close()
                except BaseException:
                    failure = failure or traceback.format_exc()
        if failure is not None:
            self.channel.send(b"E", failure.encode("utf-8", "backslashreplace"))
            return
        frames = self.take_head()
        if held:
            frames.append((b"D", held))
        frames.append((b"F", b""))
        self.channel.send_all(frames)


# Under the dev server (config "debug"): tracebacks carry each frame's
# locals, and frameworks let exceptions through to its page.
DEBUG = {"on": False, "console": None}
REPR_LIMIT = 200
# The frames of the last failed requests, for the console, by id; the
# oldest go first past KEEP.
KEPT = {}
KEEP = 20
KEPT_IDS = itertools.count()


def keep_frames(error):
    """Keeps the frames of error's traceback, oldest call first (the order
    the traceback prints), each with a namespace that outlives one input."""
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        frames.append((frame.f_globals, dict(frame.f_locals)))
        tb = tb.tb_next
    key = f"{os.getpid()}-{next(KEPT_IDS)}"
    KEPT[key] = frames
    while len(KEPT) > KEEP:
        del KEPT[next(iter(KEPT))]
    return key


def evaluate(key, index, source):
    """Runs console input in a kept frame, as werkzeug's console does: an
    expression's repr, else the statements' printed output."""
    frames = KEPT.get(key)
    if frames is None:
        return False, ("Cannot evaluate: the failed request's frames are "
                       "gone (only the last 20 are kept); make the request again")
    if index is None or not 0 <= index < len(frames):
        index = len(frames) - 1
    namespace, scope = frames[index]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            try:
                code = compile(source, "<console>", "eval")
            except SyntaxError:
                exec(compile(source, "<console>", "exec"), namespace, scope)
            else:
                value = eval(code, namespace, scope)
                if value is not None:
                    print(repr(value))
    except BaseException:
        return False, out.getvalue() + traceback.format_exc(limit=-1)
    return True, out.getvalue().rstrip("\n")


def serve_console(path):
    """The console's socket: one JSON line in ({key, frame, source}), one out
    ({ok, output}), per connection."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()

    def run():
        while True:
            conn, _ = listener.accept()
            with conn, conn.makefile("rwb") as stream:
                ask = json.loads(stream.readline())
                ok, output = evaluate(ask["key"], ask.get("frame"), ask["source"])
                stream.write(json.dumps({"ok": ok, "output": output}).encode() + b"\n")
                stream.flush()

    threading.Thread(target=run, daemon=True).start()


def debug_traceback(error):
    """The traceback, then each frame's locals as short, safe reprs, in a
    section the dev server's pages read."""
    summary = traceback.TracebackException.from_exception(
        error, capture_locals=True)
    lines = ["".join(summary.format()), "Locals (most recent call last):\n"]
    if DEBUG["console"]:
        lines.append(f"  Console {keep_frames(error)}\n")
    for frame in summary.stack:
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, '
                     f"in {frame.name}\n")
        for name, value in (frame.locals or {}).items():
            if len(value) > REPR_LIMIT:
                value = value[:REPR_LIMIT] + "..."
            value = value.replace("\n", "\\n")
            lines.append(f"    | {name} = {value}\n")
    return "".join(lines)


def let_exceptions_through(app):
    """Flask and Django answer an app's exception with their own 500 unless
    told to propagate it; the dev server's page needs it (debug mode only).
    A setting the app made itself is left alone."""
    config = getattr(app, "config", None)
    if isinstance(config, dict) and config.get("PROPAGATE_EXCEPTIONS", 0) is None:
        config["PROPAGATE_EXCEPTIONS"] = True
    if "django.conf" in sys.modules:
        from django.conf import settings
        if settings.configured and not settings.DEBUG_PROPAGATE_EXCEPTIONS:
            settings.DEBUG_PROPAGATE_EXCEPTIONS = True


def serve(channel, app, base):
    # wsgi.errors holds nothing of a request's: one per channel.
    base = {**base, "wsgi.errors": Errors(channel)}
    while True:
        try:
            kind, payload = channel.recv()
        except (EOFError, OSError):
            return
        if kind == b"H":
            try:
                Request(channel, base, payload).run(app)
            except OSError:
                # The Deno side is gone (it exited past its drain time):
                # there is no one left to answer or to report to.
                return


def import_root(path):
    """The folder to put first on sys.path and the module's name from there:
    the file's folder, or for a file inside packages (folders with an
    __init__.py) the folder above the outermost one, with the dotted name.
    So mysite/wsgi.py of a Django project imports as mysite.wsgi and its
    mysite.settings imports too, as under `gunicorn mysite.wsgi`."""
    folder, name = os.path.split(os.path.splitext(path)[0])
    parts = [name]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    return folder, ".".join(parts)


def load(config):
    """The app's callable, or a one-line reason it cannot be had."""
    path = os.path.abspath(config["file"])
    if not os.path.isfile(path):
        raise LookupError(f"Cannot load {config['file']}: no such file")
    root, name = import_root(path)
    sys.path[:0] = [root] + list(config["path"])
    sys.argv = [path]
    module = importlib.import_module(name)
    if config["callable"]:
        names = [config["callable"]]
    else:
        names = ["application", "app"]
    for attribute in names:
        target = module
        try:
            for part in attribute.split("."):
                target = getattr(target, part)
        except AttributeError:
            continue
        if not callable(target):
            raise LookupError(
                f"Cannot load {config['file']}: {attribute} is not callable"
            )
        return target
    found = own_callables(module)
    raise LookupError(
        f"Cannot load {config['file']}: it has no "
        + " or ".join(repr(attribute) for attribute in names)
        + f" (its callables: {', '.join(found) if found else 'none'})"
    )


def own_callables(module):
    """The module's public callables, as the missing-export error of a
    TypeScript app lists its exports: what it made, not what it imported
    (an app object counts, the Flask class it came from does not)."""
    names = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or not callable(value):
            continue
        made_elsewhere = (isinstance(value, type) or inspect.isroutine(value)) \
            and getattr(value, "__module__", None) != module.__name__
        if not made_elsewhere:
            names.append(name)
    return names


def load_error(config, error):
    if isinstance(error, LookupError) and str(error).startswith("Cannot load"):
        return str(error)
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    if isinstance(error, SyntaxError) and error.filename:
        last += f" ({error.filename}, line {error.lineno})"
    return f"Cannot load {config['file']}: {last}"


def connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return Channel(sock)


def write_modules(path):
    """The files of sys.modules, for the dev server's watcher: what the app
    imported decides what is watched (the Deno side keeps the app's own)."""
    files = sorted({
        os.path.abspath(module.__file__)
        for module in list(sys.modules.values())
        if isinstance(getattr(module, "__file__", None), str)
    })
    with open(path, "w") as out:
        json.dump(files, out)


def outlive_signals():
    """SIGTERM and SIGINT reach the whole process group (systemd's stop, a
    terminal's Ctrl-C), not only the server: the Deno side drains and then
    closes the channels, which ends this process. A handler, not SIG_IGN,
    so that processes the app starts get the defaults back at exec."""
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda number, frame: None)


def wait_at_gate(config):
    """A spare interpreter of the dev server: imports what the app's last
    version used from site-packages (Flask, say), then waits for its real
    config to appear at the gate, written when a save needs a new pool.
    A module that fails to import here is left for the app to import."""
    for name in config["preload"]:
        try:
            importlib.import_module(name)
        except BaseException:
            pass
    parent = os.getppid()
    while not os.path.exists(config["gate"]):
        # A dev server that died without discarding its spare.
        if os.getppid() != parent:
            sys.exit(0)
        time.sleep(0.002)
    with open(config["gate"]) as gate:
        return json.load(gate)


def main():
    config = json.loads(sys.argv[1])
    outlive_signals()
    if "gate" in config:
        config = wait_at_gate(config)
    try:
        app = load(config)
    except BaseException as error:
        # The dev server's page shows the frames' locals of a load that
        # failed as it does for a request's (no console: this process ends).
        report = {
            "message": load_error(config, error),
            "traceback": debug_traceback(error) if config.get("debug")
            else traceback.format_exc(),
        }
        if config.get("modules"):
            write_modules(config["modules"])
        connect(config["socket"]).send(b"L", json.dumps(report).encode())
        sys.exit(1)
    if config.get("modules"):
        write_modules(config["modules"])
    if config.get("debug"):
        DEBUG["on"] = True
        if config.get("console"):
            DEBUG["console"] = f"{config['console']}/console-{os.getpid()}.sock"
            serve_console(DEBUG["console"])
        let_exceptions_through(app)
    base = {
        "wsgi.version": (1, 0),
        "wsgi.multithread": config["threads"] > 1,
        "wsgi.multiprocess": config["multiprocess"],
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
    }
    channels = [connect(config["socket"]) for _ in range(config["threads"])]
    threads = []
    for channel in channels:
        channel.send(b"O", str(os.getpid()).encode())
        thread = threading.Thread(target=serve, args=(channel, app, base))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
