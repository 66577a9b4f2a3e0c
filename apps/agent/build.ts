import { readFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { build, type Plugin } from "esbuild"

/** One self-contained ESM file: what the container image copies and runs with plain `node`. */
const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string }

/**
 * An ESM bundle hoists every `import` of a Node builtin to its top, so modules that load lazily
 * (client-node, the dns backend) would still load https, tls, dns and readline at every start:
 * 16 MB of RSS for an agent that never uses them. Routing builtins through CommonJS shims lets
 * esbuild load each one where it is first needed.
 */
const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]))
const lazyBuiltins: Plugin = {
  name: "lazy-builtins",
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/0-9]+$/ }, (args) => {
      if (!builtins.has(args.path)) return undefined
      // The shim's own require is the real module, loaded at run time.
      if (args.namespace === "lazy-builtin") return { path: args.path, external: true }
      return { path: args.path.replace(/^node:/, ""), namespace: "lazy-builtin" }
    })
    build.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => ({
      contents: `module.exports = require("node:${args.path}")`,
      loader: "js"
    }))
  }
}

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
  plugins: [lazyBuiltins],
  logLevel: "warning"
})
