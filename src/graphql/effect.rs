//! The measured effect on appeals, shared by roadmaps and best practices.

use async_graphql::SimpleObject;

use crate::domain::roadmap::Effect;

/// Appeals per month before a start (a roadmap's approval, a practice's application) versus
/// since.
#[derive(SimpleObject)]
pub struct RoadmapEffect {
    pub baseline_per_month: f64,
    pub current_per_month: f64,
    /// `current / baseline − 1`; null when the baseline is zero.
    pub change: Option<f64>,
}

impl From<Effect> for RoadmapEffect {
    fn from(e: Effect) -> Self {
        Self { baseline_per_month: e.baseline_per_month, current_per_month: e.current_per_month, change: e.change }
    }
}
