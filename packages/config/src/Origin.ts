/** Where a configuration value came from, so errors and `config print` can say so. */
export type Origin =
  | { readonly kind: "default" }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "env"; readonly name: string }
  | { readonly kind: "flag"; readonly name: string }

export const describeOrigin = (origin: Origin): string => {
  switch (origin.kind) {
    case "default":
      return "default"
    case "file":
      return `file ${origin.path}`
    case "env":
      return `env ${origin.name}`
    case "flag":
      return `flag ${origin.name}`
  }
}
