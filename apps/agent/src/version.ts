declare const __KUBELAN_VERSION__: string | undefined

/** Set by the bundle build from package.json; "dev" when run from source. */
export const version = typeof __KUBELAN_VERSION__ === "string" ? __KUBELAN_VERSION__ : "dev"
