//! Reports per system (decree 2.4г: ПОС; 2.5г: «Инцидент менеджмент»): the figures of one
//! channel over a period as stored with the report. No personal data: counts, shares, topics
//! and the names of recipients (bodies of the administration, not people).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::access::{Channel, string_enum};
use super::rating::rate;

string_enum!(
    /// The system a report is about.
    ReportSystem {
        /// Платформа обратной связи (channel POS).
        Pos => "POS",
        /// «Инцидент менеджмент» (channel INCIDENT).
        Incident => "INCIDENT",
    }
);

impl<'de> Deserialize<'de> for ReportSystem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl ReportSystem {
    /// The channel its appeals come by.
    pub fn channel(self) -> Channel {
        match self {
            Self::Pos => Channel::Pos,
            Self::Incident => Channel::Incident,
        }
    }

    /// The report's name in Russian.
    pub fn title(self) -> &'static str {
        match self {
            Self::Pos => "Отчёт по Платформе обратной связи (ПОС)",
            Self::Incident => "Отчёт по системе «Инцидент менеджмент»",
        }
    }
}

/// A count under a key with a Russian label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counted {
    pub key: String,
    pub label: String,
    pub count: i64,
}

/// One recipient's line of the report (its rating within the channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientFigures {
    pub recipient_id: i64,
    pub name: String,
    pub rank: Option<i32>,
    pub total: i64,
    pub on_time_rate: Option<f64>,
    pub full_answer_rate: Option<f64>,
    pub satisfied_rate: Option<f64>,
    pub score: Option<f64>,
}

/// The figures of a system report, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub system: ReportSystem,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Appeals received in the period by the system's channel (duplicates included).
    pub total: i64,
    pub by_status: Vec<Counted>,
    pub answered: i64,
    /// Answered by the deadline (terms met).
    pub answered_on_time: i64,
    /// Open and past their deadline when the report was generated.
    pub overdue_now: i64,
    pub median_response_hours: Option<f64>,
    /// Answers assessed as full (on the merits) and answers assessed.
    pub full: i64,
    pub assessed: i64,
    /// Authors satisfied with the answer and authors who rated it.
    pub satisfied: i64,
    pub rated: i64,
    pub reopened: i64,
    /// Topics (top-level categories) with most appeals, duplicates left out.
    pub top_topics: Vec<Counted>,
    pub by_recipient: Vec<RecipientFigures>,
}

impl Figures {
    /// answeredOnTime / answered.
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.answered_on_time, self.answered)
    }
    /// full / assessed.
    pub fn full_answer_rate(&self) -> Option<f64> {
        rate(self.full, self.assessed)
    }
    /// satisfied / rated.
    pub fn satisfied_rate(&self) -> Option<f64> {
        rate(self.satisfied, self.rated)
    }
}

/// Topics listed in a report.
pub const TOP_TOPICS: usize = 10;

/// The `n` groups with most appeals, most first, ties by key; empty groups left out.
pub fn top(mut groups: Vec<Counted>, n: usize) -> Vec<Counted> {
    groups.retain(|g| g.count > 0);
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    groups.truncate(n);
    groups
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c(key: &str, count: i64) -> Counted {
        Counted { key: key.into(), label: key.into(), count }
    }

    #[test]
    fn the_top_is_by_count_then_key_without_empty_groups() {
        let got = top(vec![c("b", 2), c("a", 2), c("z", 0), c("c", 5)], 2);
        assert_eq!(got, vec![c("c", 5), c("a", 2)]);
        assert!(top(vec![c("z", 0)], 3).is_empty());
    }

    #[test]
    fn systems_are_their_channels_and_read_back_from_json() {
        assert_eq!(ReportSystem::Pos.channel(), Channel::Pos);
        assert_eq!(ReportSystem::Incident.channel(), Channel::Incident);
        let s: ReportSystem = serde_json::from_str("\"INCIDENT\"").unwrap();
        assert_eq!(s, ReportSystem::Incident);
        assert!(serde_json::from_str::<ReportSystem>("\"EMAIL\"").is_err());
    }
}
