/**
 * Plain code-point order for names and addresses in what the agent prints. `localeCompare`
 * would give a locale's collation order instead, and loading its collator touches megabytes of
 * ICU data in every pod (bench/README.md).
 */
export const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
