import { readFileSync } from "node:fs"
import { makeServingPki } from "@kubelan/kube-real"

/**
 * The cluster's certificates, as kubeadm makes them: a CA, and the API server's certificate for
 * the names and the address pods reach it at (`kubernetes.default.svc`, the API address). The
 * CA is what every pod's ServiceAccount volume carries as `ca.crt`. Made once per simulator, in
 * its state directory, as the real control plane's are.
 */
export interface ClusterPki {
  readonly caCert: string
  readonly serverCert: string
  readonly serverKey: string
  /** The CA's file, for mounting into pods. */
  readonly caFile: string
}

export const makeClusterPki = async (dir: string, apiAddress: string): Promise<ClusterPki> => {
  const pki = await makeServingPki(dir, [apiAddress])
  return {
    caCert: pki.caCert,
    serverCert: readFileSync(pki.serverCertFile, "utf8"),
    serverKey: readFileSync(pki.serverKeyFile, "utf8"),
    caFile: pki.caFile
  }
}
