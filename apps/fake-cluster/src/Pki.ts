import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { sh } from "./Shell.ts"

/**
 * The cluster's certificates, as kubeadm makes them: a CA, and the API server's certificate for
 * the names and the address pods reach it at (`kubernetes.default.svc`, the API address). The
 * CA is what every pod's ServiceAccount volume carries as `ca.crt`. Made with openssl, once per
 * simulator, in its state directory.
 */
export interface ClusterPki {
  readonly caCert: string
  readonly serverCert: string
  readonly serverKey: string
  /** The CA's file, for mounting into pods. */
  readonly caFile: string
}

export const makeClusterPki = async (dir: string, apiAddress: string): Promise<ClusterPki> => {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = (name: string) => join(dir, name)
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
  await sh("openssl", [
    "req",
    "-x509",
    ...key,
    "-days",
    "365",
    "-subj",
    "/CN=kubernetes",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.crt")
  ])
  await sh("openssl", ["req", ...key, "-subj", "/CN=kube-apiserver", "-keyout", file("apiserver.key"), "-out", file("apiserver.csr")])
  const names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"]
  writeFileSync(
    file("apiserver.ext"),
    `subjectAltName=${[...names.map((name) => `DNS:${name}`), `IP:${apiAddress}`, "IP:127.0.0.1"].join(",")}\nextendedKeyUsage=serverAuth\n`
  )
  await sh("openssl", [
    "x509",
    "-req",
    "-in",
    file("apiserver.csr"),
    "-CA",
    file("ca.crt"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-days",
    "365",
    "-extfile",
    file("apiserver.ext"),
    "-out",
    file("apiserver.crt")
  ])
  return {
    caCert: readFileSync(file("ca.crt"), "utf8"),
    serverCert: readFileSync(file("apiserver.crt"), "utf8"),
    serverKey: readFileSync(file("apiserver.key"), "utf8"),
    caFile: file("ca.crt")
  }
}
