//! The query string: parameters are named by the operation; anything else,
//! and any parameter given twice, is a 400 (as Stripe does for unknown ones).

use crate::error::ApiError;
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
}
