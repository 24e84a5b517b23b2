/**
 * Where every bench server listens: 127.0.0.1 on a free port, printing
 * `Listening on <url>` so the harness learns which.
 *
 * @module
 */
export const LISTEN = {
  hostname: "127.0.0.1",
  port: 0,
  onListen(addr: Deno.NetAddr | Deno.UnixAddr): void {
    const { hostname, port } = addr as Deno.NetAddr;
    console.log(`Listening on http://${hostname}:${port}/`);
  },
};
