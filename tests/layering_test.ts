/**
 * The layering rule of README's "Project layout", kept by reading the import
 * graph that `deno info --json` gives for every source file (static imports,
 * dynamic ones and Worker modules).
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** A layer of the table: where its files are and what it may import. */
interface Layer {
  name: string;
  /** Folders (ending in "/") and files, relative to the module's root. */
  where: string[];
  mayImport: string[];
}

/** The table of README's "Project layout", from the ground up. */
export const LAYERS: Layer[] = [
  { name: "contract", where: ["_contract/"], mayImport: [] },
  { name: "shared", where: ["_shared/"], mayImport: ["contract", "shared"] },
  {
    name: "request path",
    where: ["_request/"],
    mayImport: ["contract", "shared", "request path"],
  },
  {
    name: "public modules",
    where: [
      "mod.ts",
      "server.ts",
      // serve() and its kin, which server.ts publishes and the CLI imports.
      "_server/",
      "testing.ts",
      "cgi.ts",
      "util.ts",
      "middleware/",
      // The Python bridge: pythonApp() and its worker pool.
      "python.ts",
      "_python/",
    ],
    mayImport: ["contract", "shared", "request path", "public modules"],
  },
  {
    name: "programs",
    where: ["_cli/", "_dev/", "dev.ts"],
    mayImport: [
      "contract",
      "shared",
      "request path",
      "public modules",
      "programs",
    ],
  },
];

/** Modules that only re-export: the published entry points of the layers. */
const RE_EXPORTS = ["mod.ts", "middleware/mod.ts"];

/**
 * The one import that runs up the table: server.ts loads its CLI only when
 * it runs as a program, through a dynamic import.
 */
const UPWARD = [{ from: "server.ts", to: "_cli/server_cli.ts" }];

/** Folders that hold no source of the module. */
const NOT_SOURCE = new Set([
  "tests",
  "examples",
  "bench",
  "node_modules",
  "build",
]);

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** One import: who imports what, and whether through `import()`. */
interface Edge {
  from: string;
  to: string;
  dynamic: boolean;
}

/** Every `.ts` file of the module below `root`, relative to it. */
function sourceFiles(root: string, dir = ""): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(join(root, dir))) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      if (!entry.name.startsWith(".") && !NOT_SOURCE.has(entry.name)) {
        files.push(...sourceFiles(root, path));
      }
    } else if (entry.isFile && entry.name.endsWith(".ts")) {
      files.push(path);
    }
  }
  return files.sort();
}

interface InfoModule {
  specifier: string;
  dependencies?: {
    specifier: string;
    isDynamic?: boolean;
    code?: { specifier?: string };
    type?: { specifier?: string };
  }[];
}

/** The imports of every source file below `root`, from `deno info --json`. */
async function importGraph(root: string): Promise<Edge[]> {
  const files = sourceFiles(root);
  const seen = new Set<string>();
  const edges: Edge[] = [];
  // A file's graph holds the files it imports, with their own imports.
  for (const file of files) {
    if (seen.has(file)) continue;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", file],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(
      code,
      0,
      `deno info ${file}: ${new TextDecoder().decode(stderr)}`,
    );
    const modules = (JSON.parse(text) as { modules: InfoModule[] }).modules;
    for (const module of modules) {
      if (!module.specifier.startsWith("file:")) continue;
      const from = relative(root, fileURLToPath(module.specifier));
      if (seen.has(from)) continue;
      seen.add(from);
      for (const dependency of module.dependencies ?? []) {
        for (const target of [dependency.code, dependency.type]) {
          if (target?.specifier === undefined) continue;
          const to = target.specifier.startsWith("file:")
            ? relative(root, fileURLToPath(target.specifier))
            : target.specifier;
          edges.push({ from, to, dynamic: dependency.isDynamic === true });
        }
      }
    }
  }
  return edges;
}

/** The layer a file belongs to, if the table has one for it. */
function layerOf(file: string): Layer | undefined {
  return LAYERS.find((layer) =>
    layer.where.some((where) =>
      where.endsWith("/") ? file.startsWith(where) : file === where
    )
  );
}

/** The import circles, each as its files in order, the first one again last. */
function findCircles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (!next.has(from)) next.set(from, []);
    next.get(from)!.push(to);
  }
  const circles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === "open") {
        circles.push([...path.slice(path.indexOf(to)), to]);
      } else if (!state.has(to)) {
        visit(to);
      }
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of [...next.keys()].sort()) {
    if (!state.has(file)) visit(file);
  }
  return circles;
}

/**
 * What breaks the layering rule in the module below `root`, one sentence a
 * problem naming the importer, the imported file and the rule.
 */
export async function layeringProblems(root: string): Promise<string[]> {
  const edges = await importGraph(root);
  const problems: string[] = [];
  const local: Edge[] = [];
  const sources = new Set(sourceFiles(root));
  for (const layerless of sources) {
    if (layerOf(layerless) === undefined) {
      problems.push(
        `${layerless} is in no layer: move it into a layer's folder or add it to the table`,
      );
    }
  }
  for (const edge of edges) {
    const { from, to } = edge;
    const importer = layerOf(from);
    if (!sources.has(to)) {
      // The module has no runtime dependencies: only Deno's node: built-ins.
      if (!to.startsWith("node:")) {
        problems.push(
          `${from} imports ${to}: the library has zero runtime dependencies (only node: built-ins)`,
        );
      } else if (importer?.name === "contract") {
        problems.push(`${from} imports ${to}: the contract imports nothing`);
      }
      continue;
    }
    const upward = UPWARD.some((allowed) =>
      allowed.from === from && allowed.to === to && edge.dynamic
    );
    local.push(edge);
    if (RE_EXPORTS.includes(to)) {
      problems.push(
        `${from} imports ${to}: ${to} only re-exports, for users; import the module that defines the name`,
      );
      continue;
    }
    const imported = layerOf(to);
    if (importer === undefined || imported === undefined || upward) continue;
    if (!importer.mayImport.includes(imported.name)) {
      problems.push(
        `${from} imports ${to}: the ${importer.name} layer may import ${
          importer.mayImport.length === 0
            ? "nothing"
            : importer.mayImport.join(", ")
        }, not the ${imported.name} layer`,
      );
    } else if (from.startsWith("middleware/") && to.startsWith("_request/")) {
      problems.push(
        `${from} imports ${to}: middleware never imports the request path's internals`,
      );
    }
  }
  for (const circle of findCircles(local)) {
    problems.push(`an import circle: ${circle.join(" -> ")}`);
  }
  return problems;
}

Deno.test("layeringProblems() finds none in the module", async () => {
  assert.deepEqual(await layeringProblems(ROOT), []);
});

Deno.test("layeringProblems() names each import that breaks the table", async () => {
  const root = await Deno.makeTempDir();
  try {
    const files: Record<string, string> = {
      "_contract/types.ts":
        'import type { A } from "../_shared/a.ts";\nexport type T = A;\n',
      "_shared/a.ts": 'import "./b.ts";\nexport type A = string;\n',
      "_shared/b.ts": 'import "./a.ts";\n',
      "_request/r.ts": 'import "../server.ts";\n',
      "_loose.ts": "export const loose = 1;\n",
      "middleware/m.ts": 'import "../_request/r.ts";\nimport "../mod.ts";\n',
      "mod.ts": 'export * from "./server.ts";\n',
      "server.ts": 'import "./_cli/cli.ts";\n',
      "_cli/cli.ts": 'import "../server.ts";\n',
      "tests/t.ts": 'import "../mod.ts";\n',
    };
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(root, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(root, path), text);
    }
    assert.deepEqual((await layeringProblems(root)).sort(), [
      "_contract/types.ts imports _shared/a.ts: the contract layer may import nothing, not the shared layer",
      "_loose.ts is in no layer: move it into a layer's folder or add it to the table",
      "_request/r.ts imports server.ts: the request path layer may import contract, shared, request path, not the public modules layer",
      "an import circle: _cli/cli.ts -> server.ts -> _cli/cli.ts",
      "an import circle: _shared/a.ts -> _shared/b.ts -> _shared/a.ts",
      "middleware/m.ts imports _request/r.ts: middleware never imports the request path's internals",
      "middleware/m.ts imports mod.ts: mod.ts only re-exports, for users; import the module that defines the name",
      "server.ts imports _cli/cli.ts: the public modules layer may import contract, shared, request path, public modules, not the programs layer",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
