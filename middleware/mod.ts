/**
 * Middleware and dispatchers for gateway apps.
 *
 * @module
 */
export { Router } from "./router.ts";
