"""The legacy Flask app of examples/mixed_stack.ts, unmodified for it: it
knows nothing of the mount, of the proxy or of compression. The stack
mounts it under /legacy, and Flask builds its URLs from SCRIPT_NAME.
"""

from flask import Flask, jsonify, redirect, request, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return (
        "<h1>Legacy</h1>\n"
        f'<a href="{url_for("report")}">the report</a>\n'
        f'<a href="{url_for("whoami")}">who am I</a>\n'
    )


@app.route("/whoami")
def whoami():
    return jsonify(
        script_name=request.script_root,
        path=request.path,
        url=request.url,
        report=url_for("report", _external=True),
        remote_addr=request.remote_addr,
        scheme=request.scheme,
        host=request.host,
    )


@app.route("/report")
def report():
    rows = "".join(f"row {i}: {'data ' * 10}\n" for i in range(400))
    return rows, 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.route("/old")
def old():
    return redirect(url_for("index"))
