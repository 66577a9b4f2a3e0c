import { readFileSync } from "node:fs"
import { build } from "esbuild"

/** One self-contained ESM file: what the container image copies and runs with plain `node`. */
const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string }

await build({
  entryPoints: [new URL("./src/main.ts", import.meta.url).pathname],
  outfile: new URL("./dist/kubelan.mjs", import.meta.url).pathname,
  bundle: true,
  platform: "node",
  target: "node24",
  format: "esm",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  define: { __KUBELAN_VERSION__: JSON.stringify(version) },
  // Some dependencies still call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __kubelanCreateRequire } from 'node:module'; const require = __kubelanCreateRequire(import.meta.url);"
  },
  logLevel: "warning"
})
