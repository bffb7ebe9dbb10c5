//! Rules of reference data that lives (issue 18, item 12): which rows take new appeals,
//! where a merged row's appeals went, and which merges are refused.
//!
//! A recipient, category or territory is *usable* for a new assignment or classification
//! while it is active; merging deactivates a row and points it (`merged_into_id`) at the row
//! that took its appeals, so that a name from an older export still finds its successor.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// Which kind of reference row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Recipient,
    Category,
    Territory,
}

impl Kind {
    /// The word in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Recipient => "recipient",
            Self::Category => "category",
            Self::Territory => "territory",
        }
    }
}

/// What a merge needs to know of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub active: bool,
    pub merged_into_id: Option<i64>,
    /// Recipients only: a body outside the administration.
    pub external: bool,
}

/// Why a merge is refused: the input field and the message.
pub type Refusal = (&'static str, String);

/// Whether `id` lies in the subtree of `root` (itself included), by the parent links of
/// `parents`; a cycle in the data stops the walk.
pub fn within<S: BuildHasher>(parents: &HashMap<i64, Option<i64>, S>, id: i64, root: i64) -> bool {
    let mut at = Some(id);
    let mut steps = 0;
    while let Some(x) = at {
        if x == root {
            return true;
        }
        steps += 1;
        if steps > parents.len() {
            return false;
        }
        at = parents.get(&x).copied().flatten();
    }
    false
}

/// The checks of `merge<Kind>(fromId, intoId)`: two different rows, neither merged already,
/// the one that takes the appeals active; a tree row not merged into its own subtree
/// (its children move to `into`); a category only into one of its level; a recipient inside
/// the administration not into an external body (appeals are assigned, not redirected, to it).
///
/// # Errors
/// The field (`fromId`, `intoId`) and why.
pub fn check_merge<S: BuildHasher>(
    kind: Kind,
    from: &Row,
    into: &Row,
    parents: &HashMap<i64, Option<i64>, S>,
) -> Result<(), Refusal> {
    let noun = kind.noun();
    if from.id == into.id {
        return Err(("intoId", format!("a {noun} cannot be merged into itself")));
    }
    if let Some(m) = from.merged_into_id {
        return Err(("fromId", format!("this {noun} was already merged into {m}")));
    }
    if let Some(m) = into.merged_into_id {
        return Err(("intoId", format!("this {noun} was merged into {m}; merge into that one")));
    }
    if !into.active {
        return Err(("intoId", format!("the {noun} to merge into is not active")));
    }
    match kind {
        Kind::Category => {
            if from.parent_id.is_some() != into.parent_id.is_some() {
                return Err((
                    "intoId",
                    "a category merges only into one of its level (top-level or subcategory)".into(),
                ));
            }
        }
        Kind::Recipient | Kind::Territory => {
            if within(parents, into.id, from.id) {
                return Err(("intoId", format!("a {noun} cannot be merged into one under it")));
            }
        }
    }
    if kind == Kind::Recipient && into.external && !from.external {
        return Err(("intoId", "a recipient inside the administration cannot be merged into an external body".into()));
    }
    Ok(())
}

/// The row that stands for `id` now: `id` itself, or, for a merged row, the end of its
/// `merged_into` chain (a cycle in the data stops at the row where it closes).
pub fn successor<S: BuildHasher>(merged_into: &HashMap<i64, i64, S>, id: i64) -> i64 {
    let mut at = id;
    for _ in 0..=merged_into.len() {
        match merged_into.get(&at) {
            Some(&next) if next != id => at = next,
            _ => return at,
        }
    }
    at
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(id: i64, parent_id: Option<i64>) -> Row {
        Row { id, parent_id, active: true, merged_into_id: None, external: false }
    }

    fn tree(rows: &[Row]) -> HashMap<i64, Option<i64>> {
        rows.iter().map(|r| (r.id, r.parent_id)).collect()
    }

    #[test]
    fn a_merge_is_refused_into_itself_a_merged_or_inactive_row_or_its_own_subtree() {
        let rows = [row(1, None), row(2, Some(1)), row(3, Some(2)), row(4, None)];
        let parents = tree(&rows);
        assert_eq!(check_merge(Kind::Territory, &rows[0], &rows[0], &parents).unwrap_err().0, "intoId");
        assert!(check_merge(Kind::Territory, &rows[0], &rows[2], &parents).is_err(), "3 lies under 1");
        assert!(check_merge(Kind::Territory, &rows[2], &rows[0], &parents).is_ok(), "1 is above 3, not under it");
        assert!(check_merge(Kind::Territory, &rows[0], &rows[3], &parents).is_ok());
        let merged = Row { merged_into_id: Some(4), active: false, ..rows[1] };
        assert_eq!(check_merge(Kind::Territory, &merged, &rows[3], &parents).unwrap_err().0, "fromId");
        assert_eq!(check_merge(Kind::Territory, &rows[3], &merged, &parents).unwrap_err().0, "intoId");
        let inactive = Row { active: false, ..rows[3] };
        assert!(check_merge(Kind::Territory, &rows[0], &inactive, &parents).unwrap_err().1.contains("not active"));
    }

    #[test]
    fn categories_merge_within_their_level_and_recipients_not_into_an_external_body() {
        let top = [row(1, None), row(2, None)];
        let sub = [row(3, Some(1)), row(4, Some(2))];
        let parents = tree(&[top[0], top[1], sub[0], sub[1]]);
        assert!(check_merge(Kind::Category, &top[0], &top[1], &parents).is_ok());
        assert!(check_merge(Kind::Category, &sub[0], &sub[1], &parents).is_ok(), "subcategories of different parents");
        assert!(check_merge(Kind::Category, &sub[0], &top[1], &parents).is_err());
        assert!(check_merge(Kind::Category, &top[0], &sub[1], &parents).is_err());
        let external = Row { external: true, ..top[1] };
        assert!(check_merge(Kind::Recipient, &top[0], &external, &parents).is_err());
        let external_from = Row { external: true, ..top[0] };
        assert!(check_merge(Kind::Recipient, &external_from, &external, &parents).is_ok());
        assert!(check_merge(Kind::Recipient, &external_from, &top[1], &parents).is_ok());
    }

    #[test]
    fn the_successor_follows_the_merge_chain_and_stops_on_a_cycle() {
        let chain = HashMap::from([(1, 2), (2, 5)]);
        assert_eq!(successor(&chain, 1), 5);
        assert_eq!(successor(&chain, 2), 5);
        assert_eq!(successor(&chain, 7), 7);
        let cycle = HashMap::from([(1, 2), (2, 1)]);
        assert_eq!(successor(&cycle, 1), 2);
        let longer = HashMap::from([(1, 2), (2, 3), (3, 2)]);
        let s = successor(&longer, 1);
        assert!(s == 2 || s == 3);
    }
}
