import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { binary, type Component } from "./Binaries.ts"
import { callJson } from "./Http.ts"
import { makePki } from "./Pki.ts"
import { requestToken } from "./TokenRequest.ts"

export interface ControlPlaneOptions {
  /** Where its data, certificates and logs go; a new temporary directory by default, removed on stop. */
  readonly dir?: string
  /** kube-controller-manager too (StatefulSet, EndpointSlice, garbage collector, ServiceAccount, …). */
  readonly controllers?: boolean
  /** Addresses besides 127.0.0.1 that the serving certificate names (where pods reach it). */
  readonly addresses?: ReadonlyArray<string>
  readonly log?: (message: string) => void
  /** kube-apiserver's port on 127.0.0.1; a free one by default. */
  readonly port?: number
  /** More users of the token file besides the administrator (nodes as `system:node:NAME` in `system:nodes`). */
  readonly users?: ReadonlyArray<{ readonly token: string; readonly name: string; readonly groups?: ReadonlyArray<string> }>
  /** More kube-apiserver flags. */
  readonly apiserverArgs?: ReadonlyArray<string>
  /** More kube-controller-manager flags. */
  readonly controllerArgs?: ReadonlyArray<string>
}

/** etcd, kube-apiserver and (unless left out) kube-controller-manager, serving on loopback. */
export interface ControlPlane {
  /** `https://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  readonly caCert: string
  readonly caFile: string
  /** A kubeconfig for the cluster's administrator (system:masters), as kubeadm writes admin.conf. */
  readonly kubeconfig: string
  readonly adminToken: string
  readonly dir: string
  /** A ServiceAccount token from the TokenRequest API, bound to a pod when named, as the kubelet gets for a pod's volume. */
  token(
    namespace: string,
    serviceAccount: string,
    options?: { readonly seconds?: number; readonly pod?: { readonly name: string; readonly uid: string } }
  ): Promise<string>
  /** One request as the administrator: the status and the body parsed as JSON when it is. */
  call(method: string, path: string, body?: unknown): Promise<{ readonly status: number; readonly body: unknown }>
  stop(): Promise<void>
}

/** A free loopback port: bound by the OS, then released for the component to take. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

const tail = (file: string, lines = 15) => {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const startControlPlane = async (options: ControlPlaneOptions = {}): Promise<ControlPlane> => {
  const log = options.log ?? (() => {})
  const ownDir = options.dir === undefined
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "kube-real-"))
  mkdirSync(dir, { recursive: true })
  const children: Array<{ readonly name: Component; readonly child: ChildProcess; readonly logFile: string }> = []
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      // In reverse: the controllers, then the API server, then its storage.
      for (const { child } of children.toReversed()) {
        if (child.exitCode !== null || child.signalCode !== null) continue
        const exited = new Promise((resolve) => child.once("exit", resolve))
        child.kill("SIGTERM")
        await Promise.race([exited, sleep(5_000)])
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGKILL")
          await exited
        }
      }
      if (ownDir) rmSync(dir, { recursive: true, force: true })
    })()
    return stopping
  }
  // Each component dies with this process (PR_SET_PDEATHSIG through setpriv): a crashed test leaves none behind.
  const run = (name: Component, args: ReadonlyArray<string>) => {
    const logFile = join(dir, `${name}.log`)
    const fd = openSync(logFile, "a")
    const child = spawn("setpriv", ["--pdeathsig", "KILL", binary(name), ...args], { stdio: ["ignore", fd, fd] })
    closeSync(fd)
    children.push({ name, child, logFile })
    return { child, logFile }
  }
  const exitedEarly = (name: Component, child: ChildProcess, logFile: string) =>
    child.exitCode !== null || child.signalCode !== null
      ? new Error(`${name} exited (${child.exitCode ?? child.signalCode}) while starting; the end of ${logFile}:\n${tail(logFile)}`)
      : undefined
  try {
    const started = performance.now()
    const pki = await makePki(join(dir, "pki"), options.addresses)
    const [etcdClient, etcdPeer, freeApiPort, controllersPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()])
    const apiPort = options.port !== undefined && options.port > 0 ? options.port : freeApiPort
    const etcd = run("etcd", [
      "--name=default",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      "--listen-metrics-urls=",
      // A throwaway cluster's data: no fsync per write.
      "--unsafe-no-fsync",
      "--log-level=warn"
    ])
    const adminToken = randomBytes(24).toString("hex")
    const controllersToken = randomBytes(24).toString("hex")
    const tokens = join(dir, "pki", "tokens.csv")
    writeFileSync(
      tokens,
      [
        `${adminToken},kubernetes-admin,kubernetes-admin,"system:masters"`,
        `${controllersToken},system:kube-controller-manager,system:kube-controller-manager`,
        ...(options.users ?? []).map((user) => `${user.token},${user.name},${user.name},"${(user.groups ?? []).join(",")}"`),
        ""
      ].join("\n"),
      { mode: 0o600 }
    )
    const url = `https://127.0.0.1:${apiPort}`
    const apiserver = run("kube-apiserver", [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${pki.serverCertFile}`,
      `--tls-private-key-file=${pki.serverKeyFile}`,
      `--client-ca-file=${pki.caFile}`,
      `--token-auth-file=${tokens}`,
      "--authorization-mode=Node,RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.serviceAccountPublicKeyFile}`,
      `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      "--allow-privileged=true",
      "--profiling=false",
      // The in-cluster Service's Endpoints would name 127.0.0.1: pods reach the API another way.
      "--endpoint-reconciler-type=none",
      ...(options.apiserverArgs ?? [])
    ])
    const kubeconfig = join(dir, "admin.kubeconfig")
    const writeConfig = (file: string, user: string, token: string) =>
      writeFileSync(
        file,
        `${JSON.stringify(
          {
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "kube-real", cluster: { server: url, "certificate-authority": pki.caFile } }],
            users: [{ name: user, user: { token } }],
            contexts: [{ name: "kube-real", context: { cluster: "kube-real", user, namespace: "default" } }],
            "current-context": "kube-real",
            preferences: {}
          },
          null,
          2
        )}\n`,
        { mode: 0o600 }
      )
    writeConfig(kubeconfig, "kubernetes-admin", adminToken)
    const admin = { url, headers: { authorization: `Bearer ${adminToken}` }, ca: pki.caCert }
    const call: ControlPlane["call"] = (method, path, body) => callJson(admin, method, path, body)
    // Ready as a cluster's clients see it: every /readyz check passes (RBAC's bootstrap roles included).
    const deadline = Date.now() + 120_000
    for (;;) {
      for (const [name, { child, logFile }] of [
        ["etcd", etcd],
        ["kube-apiserver", apiserver]
      ] as const) {
        const error = exitedEarly(name, child, logFile)
        if (error !== undefined) throw error
      }
      const ready = await call("GET", "/readyz").catch(() => undefined)
      if (ready?.status === 200) break
      if (Date.now() > deadline)
        throw new Error(`kube-apiserver was not ready in 120 s; the end of ${apiserver.logFile}:\n${tail(apiserver.logFile)}`)
      await sleep(200)
    }
    log(`kube-apiserver ready on ${url} in ${Math.round(performance.now() - started)} ms`)
    if (options.controllers ?? true) {
      const controllersConfig = join(dir, "controller-manager.kubeconfig")
      writeConfig(controllersConfig, "system:kube-controller-manager", controllersToken)
      const controllers = run("kube-controller-manager", [
        `--kubeconfig=${controllersConfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${controllersPort}`,
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        `--service-account-private-key-file=${pki.serviceAccountKeyFile}`,
        `--root-ca-file=${pki.caFile}`,
        "--controllers=*",
        ...(options.controllerArgs ?? [])
      ])
      // Up once its ServiceAccount controller has made the default namespace's "default" (pods need it).
      for (;;) {
        const error = exitedEarly("kube-controller-manager", controllers.child, controllers.logFile)
        if (error !== undefined) throw error
        const account = await call("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        if (account.status === 200) break
        if (Date.now() > deadline)
          throw new Error(
            `kube-controller-manager did not start its controllers in 120 s; the end of ${controllers.logFile}:\n${tail(controllers.logFile)}`
          )
        await sleep(200)
      }
      log(`kube-controller-manager running its controllers after ${Math.round(performance.now() - started)} ms`)
    }
    return {
      url,
      port: apiPort,
      caCert: pki.caCert,
      caFile: pki.caFile,
      kubeconfig,
      adminToken,
      dir,
      call,
      token: async (namespace, serviceAccount, tokenOptions) => {
        const answer = await requestToken(admin, namespace, serviceAccount, tokenOptions)
        if (answer.token === undefined)
          throw new Error(`TokenRequest for ${namespace}/${serviceAccount}: HTTP ${answer.status}: ${JSON.stringify(answer.body)}`)
        return answer.token
      },
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}
