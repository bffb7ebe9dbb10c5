//! Likely duplicates of an appeal: near-identical texts (MinHash over word shingles, robust
//! to small edits and word order) and reports of the same topic close by in space and time.

use std::collections::HashMap;

use chrono::Duration;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::scope::AppealScope;
use crate::domain::appeal::{Appeal, RecordId};
use crate::domain::similarity::{MinHash, haversine_m};
use crate::entity::appeal;
use crate::error::AppResult;

/// How far and how long apart two reports may be to count as the same problem.
#[derive(Debug, Clone, Copy)]
pub struct DuplicateRules {
    pub radius_m: f64,
    pub window_days: i64,
    pub min_similarity: f64,
    /// Candidates compared per appeal (the newest first).
    pub max_candidates: u64,
}

impl Default for DuplicateRules {
    fn default() -> Self {
        Self { radius_m: 150.0, window_days: 30, min_similarity: 0.5, max_candidates: 2000 }
    }
}

/// A likely duplicate.
#[derive(Debug, Clone)]
pub struct Match {
    pub appeal: Appeal,
    pub similarity: f64,
    pub distance_m: Option<f64>,
}

/// Appeals the caller may see that probably report the same thing as `a` (stored or about
/// to be), best first.
pub async fn find<Id: RecordId>(
    conn: &impl ConnectionTrait,
    scope: &AppealScope,
    a: &Appeal<Id>,
    rules: DuplicateRules,
) -> AppResult<Vec<Match>> {
    let window = Duration::days(rules.window_days);
    let mut same = Condition::any();
    if let Some(c) = a.category_id {
        same = same.add(appeal::Column::CategoryId.eq(c.0));
    }
    if let Some(t) = a.territory_id {
        same = same.add(appeal::Column::TerritoryId.eq(t.0));
    }
    if a.category_id.is_none() && a.territory_id.is_none() {
        same = Condition::all();
    }
    let mut candidates = appeal::Entity::find().filter(scope.condition());
    if let Some(id) = a.id.stored() {
        candidates = candidates.filter(appeal::Column::Id.ne(id.0));
    }
    let candidates = candidates
        .filter(appeal::Column::ReceivedAt.gte(a.received_at - window))
        .filter(appeal::Column::ReceivedAt.lte(a.received_at + window))
        .filter(same)
        .order_by_desc(appeal::Column::ReceivedAt)
        .limit(rules.max_candidates)
        .all(conn)
        .await?;
    let mine = MinHash::from_text(&a.text);
    let mut out: HashMap<i64, Match> = HashMap::new();
    for c in candidates {
        let similarity = mine.similarity(&MinHash::from_text(&c.text));
        let distance_m = match (a.latitude, a.longitude, c.latitude, c.longitude) {
            (Some(la), Some(lo), Some(lb), Some(lob)) => Some(haversine_m(la, lo, lb, lob)),
            _ => None,
        };
        let nearby_same_topic = a.category_id.is_some()
            && a.category_id.map(|x| x.0) == c.category_id
            && distance_m.is_some_and(|d| d <= rules.radius_m);
        if similarity >= rules.min_similarity || nearby_same_topic {
            out.insert(c.id, Match { appeal: Appeal::try_from(c)?, similarity, distance_m });
        }
    }
    let mut list: Vec<Match> = out.into_values().collect();
    list.sort_by(|x, y| {
        y.similarity
            .total_cmp(&x.similarity)
            .then(x.distance_m.unwrap_or(f64::MAX).total_cmp(&y.distance_m.unwrap_or(f64::MAX)))
    });
    list.truncate(20);
    Ok(list)
}
