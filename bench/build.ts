// Compiles the Node targets the way the proxy image does (tsc with tsconfig.base.json's options) before a run,
// so that none of them pays for Node's type stripping: stripping loads a WebAssembly compiler that cost ~35 MB
// of RSS per process here, which the image (node proxy/dist/main.js) never loads.
import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";

/** Entries of the Node targets other than the proxy itself (bench/*-main.ts). */
const ENTRIES = [
  "passthrough-main.ts",
  "node-pipe-main.ts",
  "undici-pipe-main.ts",
  "proxy-core-main.ts",
];

export interface CompiledTargets {
  /** Where bench/*-main.js are. */
  readonly benchDir: string;
  /** The compiled proxy sources (main.js and the modules proxy-core loads). */
  readonly proxyDir: string;
  remove(): Promise<void>;
}

/**
 * Compiles bench entries and `proxySrc` (a directory inside `root`) into `root`/.cache/bench-build, inside the
 * project so that the output resolves packages from its node_modules.
 */
export async function compileTargets(
  root: string,
  proxySrc: string,
): Promise<CompiledTargets> {
  const dir = join(root, ".cache", "bench-build");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const fromDir = (path: string) => relative(dir, path);
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: fromDir(join(root, "tsconfig.base.json")),
      compilerOptions: { rootDir: fromDir(root), outDir: "." },
      include: [
        ...ENTRIES.map((entry) => fromDir(join(root, "bench", entry))),
        `${fromDir(proxySrc)}/**/*.ts`,
      ],
    }),
  );
  await promisify(execFile)(
    process.execPath,
    [join(root, "node_modules/typescript/bin/tsc"), "-p", dir],
    { cwd: root },
  );
  return {
    benchDir: join(dir, "bench"),
    proxyDir: join(dir, relative(root, proxySrc)),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
