//! Which language an answer is in: the dashboard's pages and the playbook labels in the JSON
//! views come in Simplified Chinese (the teams' language, and the default) or English.
//!
//! The choice, first that applies: `?lang=zh-CN|en` on the request; the `doorstep_lang`
//! cookie, which the dashboard sets when a member picks a language (so the choice follows the
//! member's browser, not the server); the browser's `Accept-Language`; Chinese.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use client_core::playbook::Language;
use serde::Deserialize;
use utoipa::IntoParams;

/// The cookie the dashboard sets when a member picks a language.
pub const LANG_COOKIE: &str = "doorstep_lang";

/// `?lang=zh-CN|en`: the language of the labels (else the `doorstep_lang` cookie, else
/// `Accept-Language`, else Chinese).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangQuery {
    /// `zh-CN` or `en`.
    #[allow(dead_code)] // documents the parameter in the OpenAPI document; `Lang` reads it
    pub lang: Option<String>,
}

/// The language asked for by a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lang(pub Language);

/// The language of a request's query string (`lang=`), cookie and headers.
pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Language {
    let from_query = query.and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Language::from_tag(v))
    });
    let from_cookie = || {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == LANG_COOKIE)
            .and_then(|(_, v)| Language::from_tag(v))
    };
    let from_header = || {
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Language::from_accept_language)
    };
    from_query
        .or_else(from_cookie)
        .or_else(from_header)
        .unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Lang(negotiate(parts.uri.query(), &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_query_wins_then_the_cookie_then_the_browser_then_chinese() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(None, &h), Language::Chinese);
        h.insert(ACCEPT_LANGUAGE, HeaderValue::from_static("en-GB,en;q=0.9"));
        assert_eq!(negotiate(None, &h), Language::English);
        h.insert(
            COOKIE,
            HeaderValue::from_static("doorstep_session=x; doorstep_lang=zh-CN"),
        );
        assert_eq!(negotiate(None, &h), Language::Chinese);
        assert_eq!(
            negotiate(Some("date=2026-06-01&lang=en"), &h),
            Language::English
        );
        // A language we have no screens in is ignored, not an error.
        assert_eq!(negotiate(Some("lang=fr"), &h), Language::Chinese);
    }
}
