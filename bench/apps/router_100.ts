/** A router with 100 routes, the request hitting the last one. */
import { serveRouter } from "./_routes.ts";

serveRouter(100);
