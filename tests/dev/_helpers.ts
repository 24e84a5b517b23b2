/** Helpers for the dev server's tests. */
import { join } from "node:path";
import { chromium } from "playwright-core";
import { type DevOptions, type DevServer, runDev } from "../../dev.ts";

/**
 * Debian's Chromium, headless, under playwright-core; the flags keep it from
 * reaching for the network this machine lacks.
 */
export const launchChromium = () =>
  chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });

/** A new temp directory holding `files` (relative path to text). */
export async function tempProject(
  files: Record<string, string>,
): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  for (const [path, text] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, path), text);
  }
  return dir;
}

/**
 * Runs `fn` against a quiet dev server for `dir`'s `app.ts` on a free port,
 * then closes it and removes `dir`.
 */
export async function withDev(
  dir: string,
  fn: (dev: DevServer, dir: string) => Promise<void>,
  options: Partial<DevOptions> = {},
): Promise<void> {
  const dev = await runDev({
    app: join(dir, "app.ts"),
    port: 0,
    log() {},
    onListen() {},
    ...options,
  });
  try {
    await fn(dev, dir);
  } finally {
    await dev.close();
    await Deno.remove(dir, { recursive: true });
  }
}
