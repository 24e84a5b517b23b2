"""The Flask app of bench/python.ts: hello world and a Jinja page.

Every server in that bench (server.ts, gunicorn, uWSGI) imports this one
file with the same interpreter, so the rows differ only by the server.

- ``/`` answers "Hello, World!" as text/plain, Flask's own hello world.
- ``/page`` renders ``templates/page.html`` with a title and 20 items, the
  kind of page a Flask app spends its time on (Jinja caches the compiled
  template after the first request, as it does in production).
"""

from flask import Flask, render_template

app = Flask(__name__)

ITEMS = [{"name": f"item {i}", "price": i * 1.25} for i in range(20)]


@app.route("/")
def hello():
    return "Hello, World!", 200, {"Content-Type": "text/plain"}


@app.route("/page")
def page():
    return render_template("page.html", title="Price list", items=ITEMS)
