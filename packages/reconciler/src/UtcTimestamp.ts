const pad = (value: number, width: number) => String(value).padStart(width, "0")

/**
 * `2026-12-02T15:04:05.123Z` for a time in milliseconds since the epoch, as
 * `Date.prototype.toISOString` prints it, by arithmetic alone: V8's toISOString asks ICU for the
 * local time zone first, which maps ~1 MB of time-zone data into every agent (bench/README.md).
 * Days to a civil date by Howard Hinnant's `civil_from_days`.
 */
export const utcTimestamp = (millis: number): string => {
  const { year, month, day, hours, minutes, seconds, ofDay } = civil(millis)
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}.${pad(ofDay % 1000, 3)}Z`
}

const weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

/** The HTTP `Date` header's form (`Wed, 02 Dec 2026 15:04:05 GMT`, RFC 9110 IMF-fixdate), as `toUTCString` prints it. */
export const httpDate = (millis: number): string => {
  const { year, month, day, hours, minutes, seconds, days } = civil(millis)
  const weekday = weekdays[((days % 7) + 7) % 7]
  return `${weekday}, ${pad(day, 2)} ${months[month - 1]} ${pad(year, 4)} ${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)} GMT`
}

/** The UTC calendar date and time of day of a time in milliseconds since the epoch. */
const civil = (millis: number) => {
  const days = Math.floor(millis / 86_400_000)
  const ofDay = millis - days * 86_400_000
  const shifted = days + 719_468
  const era = Math.floor(shifted / 146_097)
  const dayOfEra = shifted - era * 146_097
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365
  )
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153)
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
  const hours = Math.floor(ofDay / 3_600_000)
  const minutes = Math.floor((ofDay % 3_600_000) / 60_000)
  const seconds = Math.floor((ofDay % 60_000) / 1000)
  return { year, month, day, hours, minutes, seconds, ofDay, days }
}
