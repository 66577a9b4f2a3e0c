import { randomBytes } from "node:crypto"

/**
 * The real API server's rules for names, keys and labels (k8s.io/apimachinery's
 * util/validation), with its messages word for word. Each check returns the problems, empty when
 * the value is valid. The simulator turns names into paths as root: nothing else may pass.
 */

const regexError = (message: string, format: string, ...examples: ReadonlyArray<string>) =>
  `${message} (e.g. ${examples.map((example) => `'${example}'`).join(",  or ")}, regex used for validation is '${format}')`
const maxLength = (length: number) => `must be no more than ${length} characters`

const dns1123LabelFormat = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
const dns1123SubdomainFormat = `${dns1123LabelFormat}(\\.${dns1123LabelFormat})*`
const dns1035LabelFormat = "[a-z]([-a-z0-9]*[a-z0-9])?"
const qualifiedNameFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
const labelValueFormat = `(${qualifiedNameFormat})?`
const configMapKeyFormat = "[-._a-zA-Z0-9]+"

const whole = (format: string) => new RegExp(`^${format}$`)
const dns1123Label = whole(dns1123LabelFormat)
const dns1123Subdomain = whole(dns1123SubdomainFormat)
const dns1035Label = whole(dns1035LabelFormat)
const qualifiedName = whole(qualifiedNameFormat)
const labelValue = whole(labelValueFormat)
const configMapKey = whole(configMapKeyFormat)

/** A check of the usual shape: at most `length` characters, and the whole value matching `format`. */
const formatCheck =
  (length: number, pattern: RegExp, message: string, format: string, ...examples: ReadonlyArray<string>) =>
  (value: string): ReadonlyArray<string> => [
    ...(value.length > length ? [maxLength(length)] : []),
    ...(pattern.test(value) ? [] : [regexError(message, format, ...examples)])
  ]

export const isDns1123Subdomain = formatCheck(
  253,
  dns1123Subdomain,
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
  dns1123SubdomainFormat,
  "example.com"
)

export const isDns1123Label = formatCheck(
  63,
  dns1123Label,
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
  dns1123LabelFormat,
  "my-name",
  "123-abc"
)

export const isDns1035Label = formatCheck(
  63,
  dns1035Label,
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
  dns1035LabelFormat,
  "my-name",
  "abc-123"
)

/** What RBAC objects are held to: anything that is one safe URL path segment. */
export const isPathSegmentName = (value: string): ReadonlyArray<string> => [
  ...(value === "." || value === ".." ? [`may not be '${value}'`] : []),
  ...(value.includes("/") ? ["may not contain '/'"] : []),
  ...(value.includes("%") ? ["may not contain '%'"] : [])
]

/** Label and annotation keys: an optional DNS-subdomain prefix and a name of at most 63 characters. */
export const isQualifiedName = (value: string): ReadonlyArray<string> => {
  const parts = value.split("/")
  if (parts.length > 2)
    return [
      regexError(
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        qualifiedNameFormat,
        "MyName",
        "my.name",
        "123-abc"
      )
    ]
  const [prefix, name] = parts.length === 2 ? (parts as [string, string]) : [undefined, parts[0] as string]
  const problems: Array<string> = []
  if (prefix !== undefined) {
    if (prefix.length === 0) problems.push("prefix part must be non-empty")
    else problems.push(...isDns1123Subdomain(prefix).map((message) => `prefix part ${message}`))
  }
  if (name.length === 0) problems.push("name part must be non-empty")
  else if (name.length > 63) problems.push(`name part ${maxLength(63)}`)
  if (name.length > 0 && !qualifiedName.test(name))
    problems.push(
      regexError(
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        qualifiedNameFormat,
        "MyName",
        "my.name",
        "123-abc"
      )
    )
  return problems
}

export const isLabelValue = formatCheck(
  63,
  labelValue,
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
  labelValueFormat,
  "MyValue",
  "my_value",
  "12345"
)

const configMapKeyFormatCheck = formatCheck(
  253,
  configMapKey,
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
  configMapKeyFormat,
  "key.name",
  "KEY_NAME",
  "key-name"
)

/** ConfigMap and Secret keys, which the kubelet turns into file names. */
export const isConfigMapKey = (value: string): ReadonlyArray<string> => [
  ...configMapKeyFormatCheck(value),
  ...(value === "."
    ? ["must not be '.'"]
    : value === ".."
      ? ["must not be '..'"]
      : value.startsWith("..")
        ? ["must not start with '..'"]
        : [])
]

export type NameRule = "subdomain" | "label" | "dns1035" | "pathSegment"

export const nameProblems: Record<NameRule, (value: string) => ReadonlyArray<string>> = {
  subdomain: isDns1123Subdomain,
  label: isDns1123Label,
  dns1035: isDns1035Label,
  pathSegment: isPathSegmentName
}

/** generateName is checked as the real server does: a trailing dash stands for the generated suffix. */
export const generateNameProblems = (rule: NameRule, prefix: string): ReadonlyArray<string> =>
  nameProblems[rule](rule !== "pathSegment" && prefix.length > 1 && prefix.endsWith("-") ? `${prefix.slice(0, -1)}a` : prefix)

/** As the real server names objects from generateName: at most 58 characters of it, then 5 random ones. */
const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"
export const generatedName = (prefix: string) =>
  `${prefix.slice(0, 58)}${[...randomBytes(5)].map((byte) => nameAlphabet[byte % nameAlphabet.length]).join("")}`
