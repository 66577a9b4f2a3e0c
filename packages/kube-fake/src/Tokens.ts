import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"

/**
 * ServiceAccount tokens as the real TokenRequest API issues them: JWTs naming the account (and
 * the pod they were made for), with an expiry. kube-fake signs them with a secret of its own
 * (HS256; the real server uses its service-account key) and accepts only what it signed, not
 * expired, for an account that still exists with the same UID.
 */

export interface TokenClaims {
  readonly namespace: string
  readonly serviceAccount: { readonly name: string; readonly uid: string }
  readonly pod?: { readonly name: string; readonly uid: string } | undefined
  /** Seconds since the epoch. */
  readonly expires: number
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
const audience = "https://kubernetes.default.svc.cluster.local"

export const makeTokenIssuer = (secret: Buffer = randomBytes(32)) => {
  const sign = (text: string) => createHmac("sha256", secret).update(text).digest()

  const issue = (claims: TokenClaims, now = Date.now()) => {
    const issued = Math.floor(now / 1000)
    const unsigned = `${encode({ alg: "HS256", typ: "JWT" })}.${encode({
      aud: [audience],
      exp: claims.expires,
      iat: issued,
      nbf: issued,
      iss: audience,
      sub: `system:serviceaccount:${claims.namespace}:${claims.serviceAccount.name}`,
      "kubernetes.io": {
        namespace: claims.namespace,
        serviceaccount: claims.serviceAccount,
        ...(claims.pod === undefined ? {} : { pod: claims.pod })
      }
    })}`
    return `${unsigned}.${sign(unsigned).toString("base64url")}`
  }

  /** The claims of a token this issuer signed and that has not expired; undefined otherwise. */
  const verify = (token: string, now = Date.now()): TokenClaims | undefined => {
    const parts = token.split(".")
    if (parts.length !== 3) return undefined
    const [header, payload, signature] = parts as [string, string, string]
    const expected = sign(`${header}.${payload}`)
    const given = Buffer.from(signature, "base64url")
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    let body: unknown
    try {
      body = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"))
    } catch {
      return undefined
    }
    const claims = body as { exp?: unknown; "kubernetes.io"?: { namespace?: unknown; serviceaccount?: unknown; pod?: unknown } }
    const k8s = claims["kubernetes.io"]
    const account = k8s?.serviceaccount as { name?: unknown; uid?: unknown } | undefined
    if (typeof claims.exp !== "number" || claims.exp * 1000 <= now) return undefined
    if (typeof k8s?.namespace !== "string" || typeof account?.name !== "string" || typeof account.uid !== "string") return undefined
    const pod = k8s.pod as { name?: unknown; uid?: unknown } | undefined
    return {
      namespace: k8s.namespace,
      serviceAccount: { name: account.name, uid: account.uid },
      pod: typeof pod?.name === "string" && typeof pod.uid === "string" ? { name: pod.name, uid: pod.uid } : undefined,
      expires: claims.exp
    }
  }

  return { issue, verify }
}

export type TokenIssuer = ReturnType<typeof makeTokenIssuer>
