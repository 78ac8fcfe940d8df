//! Paged reads of the views: a page request ([`Page`]: how many, and the key after which to
//! continue, carried between calls as an opaque token) and the filtered scan that fills one.

use serde::de::DeserializeOwned;

use crate::app::AppError;
use crate::projection::{ProjectionError, ViewRead};

/// Default page size of list queries.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size a list query returns.
pub const MAX_PAGE_SIZE: usize = 500;
/// Documents read per scan while filling a filtered page.
const SCAN_CHUNK: usize = 256;

/// A page request: how many, and the key after which to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// At most this many items.
    pub size: usize,
    /// Continue after this key (decoded from the page token).
    pub after: Option<String>,
}

impl Page {
    /// Validates `page_size` (0: the default) and `page_token` (empty: the first page).
    pub fn from_request(page_size: u32, page_token: &str) -> Result<Self, AppError> {
        let size = match page_size as usize {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(AppError::invalid(
                    "page_size",
                    format!("is too large; at most {MAX_PAGE_SIZE} items per page"),
                ));
            }
            n => n,
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let foreign = || {
                AppError::invalid(
                    "page_token",
                    "is not a token this server issued; pass the next_page_token of the previous reply",
                )
            };
            let bytes = hex::decode(page_token).map_err(|_| foreign())?;
            Some(String::from_utf8(bytes).map_err(|_| foreign())?)
        };
        Ok(Self { size, after })
    }

    /// The token for the page after the one ending with `last_key`, or "" when `returned` is
    /// short of a full page (no more items).
    pub fn next_token(&self, returned: usize, last_key: Option<&str>) -> String {
        match last_key {
            Some(key) if returned >= self.size => hex::encode(key.as_bytes()),
            _ => String::new(),
        }
    }
}

/// Reads one page of documents under `prefix` that `keep` accepts, in key order, continuing
/// after the page token. Returns the documents and the next page token ("" on the last page).
pub fn scan_page<T: DeserializeOwned>(
    read: &ViewRead,
    (projection, table): (&str, &str),
    prefix: &str,
    page: &Page,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, String), ProjectionError> {
    let mut out = Vec::new();
    let mut after = page.after.clone();
    loop {
        let chunk = read.scan::<T>(projection, table, prefix, after.as_deref(), SCAN_CHUNK)?;
        let exhausted = chunk.len() < SCAN_CHUNK;
        for (key, doc) in chunk {
            if keep(&doc) {
                out.push(doc);
                if out.len() >= page.size {
                    let token = page.next_token(out.len(), Some(&key));
                    return Ok((out, token));
                }
            }
            after = Some(key);
        }
        if exhausted {
            return Ok((out, String::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Rejection;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let page = Page::from_request(2, "").unwrap();
        assert_eq!(page.size, 2);
        let token = page.next_token(2, Some("committee-1/appointee-7"));
        let next = Page::from_request(2, &token).unwrap();
        assert_eq!(next.after.as_deref(), Some("committee-1/appointee-7"));
        assert_eq!(page.next_token(1, Some("x")), "");
        assert_eq!(Page::from_request(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert!(matches!(
            Page::from_request(10_000, ""),
            Err(AppError::Rejected(Rejection::Invalid { field, .. })) if field == "page_size"
        ));
        assert!(matches!(
            Page::from_request(1, "zz"),
            Err(AppError::Rejected(Rejection::Invalid { field, .. })) if field == "page_token"
        ));
    }
}
