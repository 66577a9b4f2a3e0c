import { Context, Effect, Layer } from "effect"
import { type KubeFakeOptions, type KubeFakeServer, startKubeFake } from "./Server.ts"

/** kube-fake as an Effect service: the server lives as long as the layer's scope. */
export class KubeFake extends Context.Service<KubeFake, KubeFakeServer>()("@kubelan/kube-fake/KubeFake") {}

export const layer = (options: KubeFakeOptions = {}): Layer.Layer<KubeFake> =>
  Layer.effect(
    KubeFake,
    Effect.acquireRelease(
      Effect.promise(() => startKubeFake(options)),
      (server) => Effect.promise(() => server.close())
    )
  )
