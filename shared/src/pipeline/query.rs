//! The query string: parameters are named by the operation; anything else,
//! and any parameter given twice, is a 400 (as Stripe does for unknown ones).

use crate::error::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::{Request, RequestExt};

/// Page size when `limit` is absent.
pub const DEFAULT_PAGE: usize = 20;
/// Largest page.
pub const MAX_PAGE: usize = 100;

/// A request's query parameters, decoded.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Reads the parameters API Gateway decoded.
    pub fn from_request(req: &Request) -> Self {
        let params = req.query_string_parameters();
        let pairs = params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self { pairs }
    }

    /// Builds a query from pairs (tests, fuzzing).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// Fails on a parameter not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((name, _)) => Err(ApiError::InvalidQueryParameter {
                name: name.clone(),
                problem: "is not a known parameter",
            }),
            None => Ok(()),
        }
    }

    /// The value of `name`, when given once; a repeated parameter is a 400.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(ApiError::InvalidQueryParameter {
                name: name.to_owned(),
                problem: "must be given at most once",
            }),
            (value, _) => Ok(value),
        }
    }

    /// Every value of `name` (a form's checkboxes send one each).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The page size of a list (`?limit=1..100`, default 20; SPEC §9).
    pub fn page_limit(&self) -> Result<usize, ApiError> {
        match self.single("limit")? {
            None => Ok(DEFAULT_PAGE),
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| ApiError::InvalidQueryParameter {
                    name: "limit".into(),
                    problem: "must be a whole number from 1 to 100",
                }),
        }
    }

    /// The `cursor` of a list whose cursors are `tag` + the id of the last
    /// item of the previous page ([`encode_cursor`]); `None` on the first page.
    pub fn cursor<T, E>(
        &self,
        tag: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.cursor_named("cursor", tag, parse)
    }

    /// [`Self::cursor`] read from the parameter `name` (`after` of the events).
    pub fn cursor_named<T, E>(
        &self,
        name: &str,
        tag: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        let invalid = || ApiError::InvalidQueryParameter {
            name: name.into(),
            problem: "is not a cursor this API issued",
        };
        let Some(raw) = self.single(name)? else {
            return Ok(None);
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
        let id = text.strip_prefix(tag).ok_or_else(invalid)?;
        parse(id).map(Some).map_err(|_| invalid())
    }
}

/// An opaque cursor: `tag` + the id of a page's last item, base64url.
pub fn encode_cursor(tag: &str, last: impl std::fmt::Display) -> String {
    URL_SAFE_NO_PAD.encode(format!("{tag}{last}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EndUserId;

    fn cursor(raw: &str) -> Result<Option<EndUserId>, ApiError> {
        Query::from_pairs(vec![("cursor".into(), raw.into())]).cursor("u1:", EndUserId::parse)
    }

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = EndUserId::generate();
        assert_eq!(cursor(&encode_cursor("u1:", id)).unwrap(), Some(id));
        for bad in [
            "",
            "!!",
            "dTE6",
            &URL_SAFE_NO_PAD.encode("u2:x"),
            &URL_SAFE_NO_PAD.encode(id.to_string()),
            &encode_cursor("p1:", id),
        ] {
            assert_eq!(
                cursor(bad).unwrap_err().code(),
                "invalid_query_parameter",
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_cursor_decodes_or_is_a_400(raw in ".{0,120}", b64 in "[A-Za-z0-9_-]{0,80}") {
            for input in [raw.as_str(), b64.as_str()] {
                if let Err(err) = cursor(input) {
                    proptest::prop_assert_eq!(err.code(), "invalid_query_parameter");
                }
            }
        }
    }
}
