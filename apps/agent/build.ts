import { readFileSync, rmSync } from "node:fs"
import { builtinModules } from "node:module"
import { build, type Plugin } from "esbuild"

/**
 * The agent as the container image carries it: `dist/kubelan.mjs` and the chunks it loads, run
 * with plain `node`. Every choice here is measured in bench/README.md ("Where the memory goes"):
 * code the agent parses is memory each pod pays.
 */
const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string }
const dist = new URL("./dist/", import.meta.url).pathname

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

/**
 * The agent takes only client-node's kubeconfig loader (`dist/config.js`: files, in-cluster
 * token and CA, exec and auth-provider plugins, proxies). That module imports two things only
 * for methods the agent never calls, which would otherwise cost every pod ~10 MB:
 * - the generated API (`./gen/index.js`), for `makeApiClient` and `applySecurityAuthentication`:
 *   a thousand model classes and a fetch stack. In the bundle those two say they are left out.
 * - node-fetch, for `new Headers()` in `applyToFetchOptions` (the agent sends its requests with
 *   node:http): it would bring whatwg-url and tr46's Unicode tables. Node's own Headers stands
 *   in, loaded on first use.
 */
const clientNodeConfigOnly: Plugin = {
  name: "client-node-config-only",
  setup(build) {
    const fromConfigLoader = (importer: string) => importer.endsWith("/@kubernetes/client-node/dist/config.js")
    const replaced: Record<string, string> = {
      "node-fetch": "export function Headers(init) { return new globalThis.Headers(init) }",
      "./gen/index.js": [
        "const leftOut = () => { throw new Error(\"client-node's generated API is not in the kubelan agent's bundle\") }",
        "export function createConfiguration() { leftOut() }",
        "export function ServerConfiguration() { leftOut() }"
      ].join("\n")
    }
    build.onResolve({ filter: /^(node-fetch|\.\/gen\/index\.js)$/ }, (args) =>
      fromConfigLoader(args.importer) ? { path: args.path, namespace: "client-node-config-only" } : undefined
    )
    build.onLoad({ filter: /.*/, namespace: "client-node-config-only" }, (args) => ({ contents: replaced[args.path], loader: "js" }))
  }
}

rmSync(dist, { recursive: true, force: true })
await build({
  entryPoints: { kubelan: new URL("./src/main.ts", import.meta.url).pathname },
  outdir: dist,
  // The kubernetes and dns backends are chunks of their own, parsed only by agents that use them.
  splitting: true,
  entryNames: "[name]",
  chunkNames: "[name]-[hash]",
  outExtension: { ".js": ".mjs" },
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
  plugins: [clientNodeConfigOnly, lazyBuiltins],
  logLevel: "warning"
})
