/**
 * `compress()` over the users `Router`: the small JSON is below its
 * `minSize` and passes as it is; `/api/big` (64 KiB) is gzipped for a
 * client that accepts it.
 *
 * @module
 */
import { serveApp, usersRouter } from "./_routes.ts";
import { compress } from "../../middleware/compress.ts";

serveApp(compress()(usersRouter()));
