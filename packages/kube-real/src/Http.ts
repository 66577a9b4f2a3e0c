import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"

/** Where an API server is and how to present oneself: its URL, headers (a bearer token), the CA it is signed by. */
export interface Endpoint {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly ca?: string
}

export interface Answer {
  readonly status: number
  readonly body: unknown
}

/** One request: the status and the body parsed as JSON when it is (a string is sent as given). */
export const callJson = (endpoint: Endpoint, method: string, path: string, body?: unknown, contentType = "application/json") =>
  new Promise<Answer>((resolve, reject) => {
    const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body)
    const url = new URL(endpoint.url + path)
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      {
        method,
        ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }),
        headers: { ...endpoint.headers, accept: "application/json", ...(text === undefined ? {} : { "content-type": contentType }) }
      },
      (response) => {
        let data = ""
        response.setEncoding("utf8")
        response.on("data", (chunk) => {
          data += chunk
        })
        response.on("end", () => {
          let parsed: unknown = data
          try {
            parsed = JSON.parse(data)
          } catch {}
          resolve({ status: response.statusCode ?? 0, body: parsed })
        })
      }
    )
    req.on("error", reject)
    req.end(text)
  })
