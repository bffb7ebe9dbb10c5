//! Relay connections: page arguments (capped at 100), cursors and the contract's shapes.

use async_graphql::SimpleObject;

use crate::error::{AppError, AppResult};

/// The largest page a client may ask for.
pub const MAX_PAGE: i32 = 100;
/// The page size when the client does not say.
pub const DEFAULT_PAGE: i32 = 20;

/// Relay page information.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Declares `XConnection` and `XEdge` for a node type.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        /// An edge of the connection.
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        /// A page of the list with its total size.
        #[derive(async_graphql::SimpleObject)]
        pub struct $conn {
            pub edges: Vec<$edge>,
            pub page_info: $crate::graphql::connection::PageInfo,
            pub total_count: i32,
        }

        impl $conn {
            /// Builds the page from offset-paged rows.
            pub fn from_offset(nodes: Vec<$node>, offset: u64, total: u64) -> Self {
                let n = nodes.len() as u64;
                let edges: Vec<$edge> = nodes
                    .into_iter()
                    .enumerate()
                    .map(|(i, node)| $edge {
                        cursor: $crate::graphql::connection::offset_cursor(offset + i as u64),
                        node,
                    })
                    .collect();
                let page_info = $crate::graphql::connection::PageInfo {
                    has_next_page: offset + n < total,
                    has_previous_page: offset > 0,
                    start_cursor: edges.first().map(|e| e.cursor.clone()),
                    end_cursor: edges.last().map(|e| e.cursor.clone()),
                };
                Self { edges, page_info, total_count: i32::try_from(total).unwrap_or(i32::MAX) }
            }
        }
    };
}
pub(crate) use connection;

/// The opaque cursor of the row at `offset`.
pub fn offset_cursor(offset: u64) -> String {
    format!("o{offset}")
}

/// Checks `first` (default 20, at most 100).
///
/// # Errors
/// `BAD_USER_INPUT` on `first` when negative or above 100.
pub fn page_size(first: Option<i32>, path: &str) -> AppResult<u64> {
    match first {
        None => Ok(DEFAULT_PAGE as u64),
        Some(n) if (0..=MAX_PAGE).contains(&n) => Ok(n as u64),
        Some(_) => Err(AppError::bad(path, format!("must be between 0 and {MAX_PAGE}"))),
    }
}

/// Offset and limit of a forward page (`first`/`after`) of an offset-paged list.
///
/// # Errors
/// `BAD_USER_INPUT` for a page size out of range or a cursor that is not ours.
pub fn forward_window(first: Option<i32>, after: Option<&str>) -> AppResult<(u64, u64)> {
    let limit = page_size(first, "first")?;
    let offset = match after {
        None => 0,
        Some(c) => {
            c.strip_prefix('o')
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| AppError::bad("after", "is not a valid cursor"))?
                + 1
        }
    };
    Ok((offset, limit))
}

/// What a list without paging multiplies the cost of its items by: such lists (a rubric's
/// children, an appeal's events) hold a few to a few dozen items.
pub const LIST_COST: usize = 10;

/// What a page multiplies the cost of its items by: the page size asked for (the default
/// page when absent, the largest page at most), so `1000 × appeals(first: 100)` is refused
/// before it runs.
pub fn page_cost(first: Option<i32>) -> usize {
    first.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize
}
