//! When periodic work is due, in the municipality's local time.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

/// The local hour on Monday at which the memo of the past week is due.
pub const MEMO_HOUR: u32 = 8;

/// The Monday that starts the week whose memo should exist at `now`: the week before the
/// latest Monday 08:00 (local time) that has passed. Before 08:00 on a Monday that is still
/// the week before last.
pub fn memo_week_due(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    let local = now.with_timezone(&tz).naive_local();
    let monday = local.date() - Duration::days(i64::from(local.weekday().num_days_from_monday()));
    let due_at = monday.and_time(NaiveTime::from_hms_opt(MEMO_HOUR, 0, 0).unwrap_or_default());
    let latest_monday = if local >= due_at { monday } else { monday - Duration::days(7) };
    latest_monday - Duration::days(7)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_memo_of_the_past_week_is_due_from_monday_eight_local_time() {
        let tz: Tz = "Asia/Krasnoyarsk".parse().unwrap();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // Monday 7 December 2026, 07:59 in Krasnoyarsk: the memo of 23–29 November is the latest.
        assert_eq!(memo_week_due(at("2026-12-07T07:59:59+07:00"), tz), d(2026, 11, 23));
        // 08:00: the week of 30 November – 6 December is due.
        assert_eq!(memo_week_due(at("2026-12-07T08:00:00+07:00"), tz), d(2026, 11, 30));
        // Friday of the same week: still that memo.
        assert_eq!(memo_week_due(at("2026-12-11T18:00:00+07:00"), tz), d(2026, 11, 30));
        // Sunday night (UTC already Sunday 17:00, local Monday 00:30 is before 08:00).
        assert_eq!(memo_week_due(at("2026-12-13T17:30:00Z"), tz), d(2026, 11, 30));
        // Across a year's end: Monday 4 January 2027, 09:00 → the week of 28 December.
        assert_eq!(memo_week_due(at("2027-01-04T09:00:00+07:00"), tz), d(2026, 12, 28));
    }
}
