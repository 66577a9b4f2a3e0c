export * from "./Binaries.ts"
export * from "./ControlPlane.ts"
export * from "./Http.ts"
export * from "./Pki.ts"
