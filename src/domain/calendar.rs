//! Working days: the Russian production calendar (ТК РФ ст. 112 with the Government's
//! yearly transfers, from `holidays-ru`) plus administrator overrides for dates the crate
//! does not know yet or that a municipality declares differently.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};
use holidays_ru::{Federal, Resolved};

/// The production calendar with overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    overrides: BTreeMap<NaiveDate, bool>,
}

impl WorkCalendar {
    /// A calendar with overrides: `true` makes a date working, `false` non-working.
    pub fn new(overrides: impl IntoIterator<Item = (NaiveDate, bool)>) -> Self {
        Self { overrides: overrides.into_iter().collect() }
    }

    /// Whether official data (not a forecast) is known for the year.
    pub fn knows_year(year: i32) -> bool {
        (holidays_ru::FIRST_FACT_YEAR..=holidays_ru::LAST_FACT_YEAR).contains(&year)
    }

    /// Whether `d` is a working day: an override first, then the production calendar (the
    /// crate's forecast from ТК РФ for years without official data), else Monday–Friday.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if let Some(w) = self.overrides.get(&d) {
            return *w;
        }
        match holidays_ru::is_working_day::<Federal, NaiveDate>(d) {
            Some(Resolved::Fact(w) | Resolved::Predict(w)) => w,
            None => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// `d` if it is a working day, else the next working day.
    pub fn next_working_day_on_or_after(&self, d: NaiveDate) -> NaiveDate {
        let mut day = d;
        // A year never has more than a few weeks of consecutive days off; the bound only
        // protects against a calendar overridden to have no working days at all.
        for _ in 0..366 {
            if self.is_working_day(day) {
                return day;
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => return day,
            }
        }
        day
    }

    /// The `n`-th working day strictly after `d` (`d` itself when `n` is 0).
    pub fn add_working_days(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut day = d;
        for _ in 0..n {
            day = day.succ_opt().map_or(day, |next| self.next_working_day_on_or_after(next));
        }
        day
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn new_year_holidays_2026_and_2027() {
        let cal = WorkCalendar::default();
        for day in 1..=11 {
            assert!(!cal.is_working_day(d(2026, 1, day)), "2026-01-{day:02} is a holiday");
        }
        assert!(cal.is_working_day(d(2026, 1, 12)));
        for day in 1..=8 {
            assert!(!cal.is_working_day(d(2027, 1, day)), "2027-01-{day:02} is a holiday");
        }
        assert_eq!(cal.next_working_day_on_or_after(d(2027, 1, 1)), d(2027, 1, 11));
    }

    #[test]
    fn weekends_transfers_and_short_days() {
        let cal = WorkCalendar::default();
        assert!(!cal.is_working_day(d(2026, 11, 28)), "a Saturday");
        assert!(cal.is_working_day(d(2026, 11, 27)), "a Friday");
        assert!(!cal.is_working_day(d(2026, 11, 4)), "National Unity Day");
        // 2026: 9 January (Friday) is a day off moved from 3 January; 31 December is off too.
        assert!(!cal.is_working_day(d(2026, 1, 9)));
        assert!(!cal.is_working_day(d(2026, 12, 31)));
        // 2026: 11 May (Monday) is a day off (May 9 fell on a Saturday).
        assert!(!cal.is_working_day(d(2026, 5, 11)));
        assert!(WorkCalendar::knows_year(2027));
        // 2027: Saturday 20 February is a working day, Monday 22 February a day off.
        assert!(cal.is_working_day(d(2027, 2, 20)));
        assert!(!cal.is_working_day(d(2027, 2, 22)));
    }

    #[test]
    fn overrides_win() {
        let cal = WorkCalendar::new([(d(2026, 11, 28), true), (d(2026, 11, 27), false)]);
        assert!(cal.is_working_day(d(2026, 11, 28)));
        assert!(!cal.is_working_day(d(2026, 11, 27)));
    }

    #[test]
    fn adding_working_days_skips_holidays() {
        let cal = WorkCalendar::default();
        // Friday 2026-11-27 + 1 working day = Monday 2026-11-30.
        assert_eq!(cal.add_working_days(d(2026, 11, 27), 1), d(2026, 11, 30));
        assert_eq!(cal.add_working_days(d(2026, 11, 27), 0), d(2026, 11, 27));
        // Tuesday 2026-11-03 + 1 = Thursday 2026-11-05 (4 November is a holiday).
        assert_eq!(cal.add_working_days(d(2026, 11, 3), 1), d(2026, 11, 5));
        // From 30 December 2026: 31 Dec and 1–10 Jan off, so the 1st working day is 11 January.
        assert_eq!(cal.add_working_days(d(2026, 12, 30), 1), d(2027, 1, 11));
    }
}
