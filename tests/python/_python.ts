/** Options the Python suites give pythonApp(). */
import type { PythonAppOptions } from "../../python.ts";
import { PYTHON } from "../reference/_reference.ts";

/**
 * Debian's interpreter (it has Debian's Flask), writing no `__pycache__`
 * into the fixtures' folder.
 */
export const PY: PythonAppOptions = {
  python: PYTHON,
  env: { PYTHONDONTWRITEBYTECODE: "1" },
};
