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

/// The latest daily digest instant that has passed at `now`: today at `at` local time, or
/// yesterday's before that time. A local time skipped by a clock change counts as its first
/// valid instant after.
pub fn digest_due(now: DateTime<Utc>, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).naive_local();
    let day = if local.time() >= at { local.date() } else { local.date() - Duration::days(1) };
    let naive = day.and_time(at);
    (0..=4)
        .find_map(|h| naive.checked_add_signed(Duration::hours(h)).and_then(|t| t.and_local_timezone(tz).earliest()))
        .map_or(now, |t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn the_digest_is_due_from_its_local_time_each_day() {
        let tz: Tz = "Asia/Krasnoyarsk".parse().unwrap();
        let eight = NaiveTime::from_hms_opt(8, 0, 0).unwrap();
        assert_eq!(digest_due(at("2026-12-08T07:59:00+07:00"), tz, eight), at("2026-12-07T08:00:00+07:00"));
        assert_eq!(digest_due(at("2026-12-08T08:00:00+07:00"), tz, eight), at("2026-12-08T08:00:00+07:00"));
        assert_eq!(digest_due(at("2026-12-08T23:00:00+07:00"), tz, eight), at("2026-12-08T08:00:00+07:00"));
    }

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
