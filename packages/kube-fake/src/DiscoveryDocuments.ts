import { groupVersion, resourceTypes, verbs } from "./Resources.ts"

/** `/version`, `/api`, `/apis` and the per-group resource lists kubectl discovers the server with. */
export const versionInfo = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0-kube-fake",
  gitCommit: "kube-fake",
  gitTreeState: "clean",
  buildDate: "2026-01-01T00:00:00Z",
  goVersion: "go1.23",
  compiler: "gc",
  platform: "linux/amd64"
}

export const coreVersions = (serverAddress: string) => ({
  kind: "APIVersions",
  versions: ["v1"],
  serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }]
})

const groups = () => [...new Set(resourceTypes.filter((type) => type.group !== "").map((type) => type.group))]

export const groupList = () => ({
  kind: "APIGroupList",
  apiVersion: "v1",
  groups: groups().map((name) => {
    // Every version served, the preferred (first listed) first.
    const versions = [...new Set(resourceTypes.filter((type) => type.group === name).map((type) => type.version))].map((version) => ({
      groupVersion: `${name}/${version}`,
      version
    }))
    return { name, versions, preferredVersion: versions[0] }
  })
})

export const resourceList = (group: string, version: string) => {
  const types = resourceTypes.filter((type) => type.group === group && type.version === version)
  if (types.length === 0) return undefined
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group === "" ? version : `${group}/${version}`,
    resources: types.flatMap((type) => [
      {
        name: type.resource,
        singularName: type.singular,
        namespaced: type.namespaced,
        kind: type.kind,
        verbs,
        ...(type.shortNames.length > 0 ? { shortNames: type.shortNames } : {}),
        ...(type.categories.length > 0 ? { categories: type.categories } : {}),
        storageVersionHash: Buffer.from(groupVersion(type) + type.kind)
          .toString("base64")
          .slice(0, 11)
      },
      ...type.subresources.map((subresource) => ({
        name: `${type.resource}/${subresource}`,
        singularName: "",
        namespaced: type.namespaced,
        kind: subresourceKinds[subresource] ?? type.kind,
        verbs: subresourceVerbs[subresource] ?? ["get", "patch", "update"],
        ...(subresource === "scale" ? { group: "autoscaling", version: "v1" } : {})
      }))
    ])
  }
}

/** As the real discovery document lists them: a pod's log is read, a command in it created. */
const subresourceKinds: Readonly<Record<string, string>> = { scale: "Scale", log: "Pod", exec: "PodExecOptions", token: "TokenRequest" }
const subresourceVerbs: Readonly<Record<string, ReadonlyArray<string>>> = { log: ["get"], exec: ["create", "get"], token: ["create"] }
