import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { builtinModules, createRequire } from "node:module"
import { build, type Plugin } from "esbuild"

/**
 * The agent as the container image carries it: `dist/kubelan.mjs`, the bundle `dist/agent.mjs` and
 * the chunks it loads, run with plain `node`. Every choice here is measured in bench/README.md ("Where the memory goes"):
 * code the agent parses is memory each pod pays.
 */
const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string }
const dist = new URL("./dist/", import.meta.url).pathname

/**
 * An ESM bundle hoists every `import` of a Node builtin to its top, so modules that load lazily
 * (client-node, the dns backend) would still load https, tls, dns and readline at every start.
 * Each builtin is instead a module of getters named after its exports, which loads the real
 * one at the first use of any of them: an agent talking plain http to its API never loads tls
 * and crypto (~6 MB), a static agent never loads dns.
 */
const require = createRequire(import.meta.url)
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
    build.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => {
      const exported = Object.getOwnPropertyNames(require(`node:${args.path}`) as object).filter((name) => name !== "default")
      return {
        contents: [
          "let loaded",
          `const real = () => (loaded ??= require("node:${args.path}"))`,
          `for (const name of ${JSON.stringify(exported)})`,
          "  Object.defineProperty(exports, name, { enumerable: true, get: () => real()[name], set: (value) => { real()[name] = value } })"
        ].join("\n"),
        loader: "js"
      }
    })
  }
}

/**
 * The agent takes only client-node's kubeconfig loader (`dist/config.js`: files, in-cluster
 * token and CA, exec and auth-provider plugins, proxies). That module imports, for methods the
 * agent never calls or settings most clusters do not use, code that would cost every pod
 * megabytes at start:
 * - the generated API (`./gen/index.js`), for `makeApiClient` and `applySecurityAuthentication`:
 *   a thousand model classes and a fetch stack. In the bundle those two say they are left out.
 * - node-fetch, for `new Headers()` in `applyToFetchOptions` (the agent sends its requests with
 *   node:http): it would bring whatwg-url and tr46's Unicode tables. Node's own Headers stands in.
 * - the proxy agents (`proxy-url` in a kubeconfig): their classes extend https.Agent as they
 *   load, which loads TLS even for a plain-http API. Here they load when one is made.
 */
const lazyConstructors = (module: string, names: ReadonlyArray<string>) =>
  names.map((name) => `export function ${name}(...args) { return new (require("${module}").${name})(...args) }`).join("\n")
const clientNodeKubeconfigOnly: Plugin = {
  name: "client-node-kubeconfig-only",
  setup(build) {
    const fromConfigLoader = (importer: string) => importer.endsWith("/@kubernetes/client-node/dist/config.js")
    const replaced: Record<string, string> = {
      "node-fetch": "export function Headers(init) { return new globalThis.Headers(init) }",
      "./gen/index.js": [
        "const leftOut = () => { throw new Error(\"client-node's generated API is not in the kubelan agent's bundle\") }",
        "export function createConfiguration() { leftOut() }",
        "export function ServerConfiguration() { leftOut() }"
      ].join("\n"),
      "socks-proxy-agent": lazyConstructors("socks-proxy-agent", ["SocksProxyAgent"]),
      hpagent: lazyConstructors("hpagent", ["HttpProxyAgent", "HttpsProxyAgent"])
    }
    build.onResolve({ filter: /^(node-fetch|\.\/gen\/index\.js|socks-proxy-agent|hpagent)$/ }, (args) =>
      fromConfigLoader(args.importer) && args.namespace === "file"
        ? { path: args.path, namespace: "client-node-kubeconfig-only", pluginData: args.resolveDir }
        : undefined
    )
    build.onLoad({ filter: /.*/, namespace: "client-node-kubeconfig-only" }, (args) => ({
      contents: replaced[args.path],
      // The facades' own require of the real module resolves from where config.js is.
      resolveDir: args.pluginData as string,
      loader: "js"
    }))
  }
}

rmSync(dist, { recursive: true, force: true })
await build({
  entryPoints: { agent: new URL("./src/main.ts", import.meta.url).pathname },
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
  plugins: [clientNodeKubeconfigOnly, lazyBuiltins],
  logLevel: "warning"
})

/**
 * `kubelan.mjs`, what `node` runs: it turns on V8's code cache in `compile-cache/` beside it
 * before the bundle loads, so a start deserializes the bundle's compiled code instead of parsing
 * 400 KB (~40 ms of CPU a start, paid by every pod on a node at once). The image fills the
 * directory when it is built; where it cannot be written, Node compiles as usual.
 */
writeFileSync(
  new URL("./dist/kubelan.mjs", import.meta.url),
  [
    "import { enableCompileCache } from 'node:module'",
    "enableCompileCache?.(new URL('./compile-cache/', import.meta.url).pathname)",
    "await import('./agent.mjs')",
    ""
  ].join("\n")
)
