/**
 * Reference for the hello rows: the least a gateway-shaped adapter can do.
 * The app is called with an environ of two keys and a startResponse that
 * only records its arguments; the header list becomes a record and the one
 * chunk the body. No checks at all: this is the floor under `serve()`, not
 * something to serve with.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
type Header = [string, string];
type Start = (status: string, headers: Header[]) => null;
type BareApp = (environ: Record<string, string>, start: Start) => string[];

const app: BareApp = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello, World!"];
};

Deno.serve(LISTEN, (req) => {
  let status = "";
  let headers: Header[] = [];
  const body = app(
    { REQUEST_METHOD: req.method, PATH_INFO: req.url },
    (s, h) => {
      status = s;
      headers = h;
      return null;
    },
  );
  const record: Record<string, string> = {};
  for (const [name, value] of headers) record[name.toLowerCase()] = value;
  return new Response(body[0], {
    status: Number(status.slice(0, 3)),
    headers: record,
  });
});
