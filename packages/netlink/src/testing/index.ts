// Kernel-test fixtures: namespace "pods" on a bridge and what a user would check with iproute2.
// A separate entry point (`@kubelan/netlink/testing`): the agent never loads it.
export * from "./Kernel.ts"
export * from "./PodNetwork.ts"
export * from "./run.ts"
export * from "./TestNamespaces.ts"
