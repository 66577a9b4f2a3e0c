// A separate entry point, so the agent loads the dns backend only when it is configured.
export * as DnsDiscovery from "./DnsDiscovery.ts"
export { serviceHostname } from "./DnsDiscovery.ts"
