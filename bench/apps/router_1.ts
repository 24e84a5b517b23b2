/** Baseline for the router rows: a router with a single route. */
import { serveRouter } from "./_routes.ts";

serveRouter(1);
