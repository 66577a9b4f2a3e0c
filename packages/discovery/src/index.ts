export * from "./Discovery.ts"
export * from "./Membership.ts"
export * as StaticDiscovery from "./StaticDiscovery.ts"
