export * from "./Binaries.ts"
export * from "./ControlPlane.ts"
export * from "./Pki.ts"
