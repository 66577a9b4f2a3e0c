import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { execa } from "execa"

/**
 * An API server's TLS, as kubeadm lays it out: a CA and the server's certificate for loopback,
 * the in-cluster names (`kubernetes.default.svc` ...) and the addresses pods reach it at. Made
 * with openssl in `dir`; kube-fake in kubelan-sim serves with it too.
 */
export interface ServingPki {
  readonly caFile: string
  readonly caCert: string
  readonly serverCertFile: string
  readonly serverKeyFile: string
}

/** The serving PKI and the key pair that signs ServiceAccount tokens: what the real control plane needs. */
export interface ControlPlanePki extends ServingPki {
  readonly serviceAccountKeyFile: string
  readonly serviceAccountPublicKeyFile: string
}

const openssl = (args: ReadonlyArray<string>) => execa("openssl", args, { stdin: "ignore" })

/** `addresses`: more IP addresses the serving certificate must name (where pods reach the API). */
export const makeServingPki = async (dir: string, addresses: ReadonlyArray<string> = []): Promise<ServingPki> => {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = (name: string) => join(dir, name)
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
  await openssl(["req", "-x509", ...ec, "-days", "365", "-subj", "/CN=kubernetes", "-keyout", file("ca.key"), "-out", file("ca.crt")])
  await openssl(["req", ...ec, "-subj", "/CN=kube-apiserver", "-keyout", file("apiserver.key"), "-out", file("apiserver.csr")])
  const names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"]
  const ips = ["127.0.0.1", ...addresses]
  writeFileSync(
    file("apiserver.ext"),
    `subjectAltName=${[...names.map((name) => `DNS:${name}`), ...ips.map((ip) => `IP:${ip}`)].join(",")}\nextendedKeyUsage=serverAuth\n`
  )
  await openssl([
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
    caFile: file("ca.crt"),
    caCert: readFileSync(file("ca.crt"), "utf8"),
    serverCertFile: file("apiserver.crt"),
    serverKeyFile: file("apiserver.key")
  }
}

export const makePki = async (dir: string, addresses: ReadonlyArray<string> = []): Promise<ControlPlanePki> => {
  const serving = await makeServingPki(dir, addresses)
  const file = (name: string) => join(dir, name)
  // RSA, as kubeadm's sa.key: every client verifies RS256 tokens.
  await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", file("sa.key")])
  await openssl(["pkey", "-in", file("sa.key"), "-pubout", "-out", file("sa.pub")])
  return { ...serving, serviceAccountKeyFile: file("sa.key"), serviceAccountPublicKeyFile: file("sa.pub") }
}
