//! The managers' dashboard: one page of static HTML, CSS and JavaScript embedded in the binary
//! (no build step, no framework, nothing from another host), served at `/` by the same server
//! that answers the phones.
//!
//! The page logs in through `POST /v1/session`, reads the JSON views under `/v1/views`, and
//! listens to `/v1/events`: when a sync changes the team's records it re-fetches the view it
//! shows, without reloading. Everything it shows comes from the JSON API.
//!
//! A person who opens a path that is not there, or a login link that no longer works, gets a
//! small page in their language (not the API's JSON), with a way back to the dashboard.
//!
//! Its words come from a message catalogue per language (`i18n/zh-CN.json`, `i18n/en.json`,
//! the same keys in both, checked by a test): the page is served with the catalogue of the
//! request's language (see `language`) inlined, so the first paint is already in the right
//! language and no second request is needed.

use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_LANGUAGE, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use client_core::playbook::Language;

use super::language::Lang;
use super::session;
use super::AppState;

const INDEX_HTML: &str = include_str!("index.html");
const NOTICE_HTML: &str = include_str!("notice.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");
const MESSAGES_ZH: &str = include_str!("i18n/zh-CN.json");
const MESSAGES_EN: &str = include_str!("i18n/en.json");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}

/// The message catalogue of a language.
pub fn messages(lang: Language) -> &'static str {
    match lang {
        Language::Chinese => MESSAGES_ZH,
        Language::English => MESSAGES_EN,
    }
}

/// The page in `lang`: its `lang` attribute and its inlined catalogue.
fn index(lang: Language) -> String {
    // The catalogue sits in a <script> element: a "</" in it must not end the element.
    INDEX_HTML
        .replace("{{LANG}}", lang.tag())
        .replace("{{MESSAGES}}", &messages(lang).replace("</", "<\\/"))
}

/// Whether a request comes from a person's browser (it accepts HTML) rather than a script.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small page in `lang` with the catalogue's `{prefix}.title`, `.text` and `.back`.
pub fn notice(lang: Language, status: StatusCode, prefix: &str) -> Response {
    let messages: serde_json::Value = serde_json::from_str(messages(lang)).unwrap_or_default();
    let word = |key: &str| {
        escape(
            messages[format!("{prefix}.{key}")]
                .as_str()
                .unwrap_or_default(),
        )
    };
    let page = NOTICE_HTML
        .replace("{{LANG}}", lang.tag())
        .replace("{{TITLE}}", &word("title"))
        .replace("{{TEXT}}", &word("text"))
        .replace("{{BACK}}", &word("back"));
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (CONTENT_LANGUAGE, lang.tag()),
        ],
        page,
    )
        .into_response()
}

/// The answer for a path the server does not have: the not-found page for a person's browser
/// outside the API, the API's JSON error otherwise.
pub async fn fallback(Lang(lang): Lang, uri: Uri, headers: HeaderMap) -> Response {
    if wants_html(&headers) && !uri.path().starts_with("/v1") {
        return notice(lang, StatusCode::NOT_FOUND, "not_found");
    }
    super::error::not_found().await.into_response()
}

/// `/`, its assets and the login-link route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|Lang(lang): Lang| async move {
                (
                    [
                        (CONTENT_TYPE, "text/html; charset=utf-8"),
                        (CACHE_CONTROL, "no-cache"),
                        (VARY, "Accept-Language, Cookie"),
                        (CONTENT_LANGUAGE, lang.tag()),
                    ],
                    index(lang),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .merge(session::link_router())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn keys(text: &str) -> BTreeSet<String> {
        let v: serde_json::Value = serde_json::from_str(text).expect("a catalogue is JSON");
        v.as_object()
            .expect("a catalogue is an object")
            .iter()
            .map(|(k, v)| {
                assert!(
                    v.as_str().is_some_and(|s| !s.trim().is_empty()),
                    "{k} is a non-empty string"
                );
                k.clone()
            })
            .collect()
    }

    #[test]
    fn both_catalogues_have_the_same_keys() {
        let zh = keys(MESSAGES_ZH);
        let en = keys(MESSAGES_EN);
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "only in zh-CN: {only_zh:?}; only in en: {only_en:?}"
        );
    }

    /// Every key the page names literally — `t("…")` in the script, `data-i18n="…"` in the
    /// page — is in the catalogue; keys built at run time (`status.${code}`) are checked
    /// by their prefix.
    #[test]
    fn every_key_the_page_uses_is_in_the_catalogue() {
        let en = keys(MESSAGES_EN);
        let mut used = vec![];
        for (text, open, close) in [
            (APP_JS, "t(\"", '"'),
            (INDEX_HTML, "data-i18n=\"", '"'),
            (INDEX_HTML, "data-i18n-title=\"", '"'),
            (APP_JS, "t(`", '`'),
        ] {
            for (at, _) in text.match_indices(open) {
                // `t(` only as a call of its own, not the end of `split(`.
                let before = text[..at].chars().next_back().unwrap_or(' ');
                if open.starts_with('t') && (before.is_alphanumeric() || before == '_') {
                    continue;
                }
                let rest = &text[at + open.len()..];
                if let Some(end) = rest.find(close) {
                    used.push(rest[..end].to_string());
                }
            }
        }
        assert!(used.len() > 100, "found {} keys", used.len());
        for key in used {
            match key.split_once("${") {
                Some((prefix, _)) => assert!(
                    en.iter().any(|k| k.starts_with(prefix)),
                    "no key starts with {prefix}"
                ),
                None => assert!(en.contains(&key), "{key} is not in the catalogue"),
            }
        }
    }

    #[test]
    fn the_notice_pages_are_in_the_asked_language_and_escaped() {
        let body = |r: Response| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(axum::body::to_bytes(r.into_body(), 1 << 20))
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .unwrap()
        };
        let zh = notice(Language::Chinese, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(zh.status(), StatusCode::NOT_FOUND);
        let zh = body(zh);
        assert!(
            zh.contains("<h2>未找到</h2>") && zh.contains("lang=\"zh-CN\""),
            "{zh}"
        );
        let en = body(notice(Language::English, StatusCode::UNAUTHORIZED, "link"));
        assert!(en.contains("This login link no longer works"), "{en}");
        assert!(!en.contains("{{"));
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }

    #[test]
    fn the_page_is_served_in_the_asked_language_with_its_catalogue() {
        let zh = index(Language::Chinese);
        assert!(zh.contains("<html lang=\"zh-CN\">"));
        assert!(zh.contains("\"nav.today\": \"今日\""));
        let en = index(Language::English);
        assert!(en.contains("<html lang=\"en\">"));
        assert!(en.contains("\"nav.today\": \"Today\""));
        assert!(!en.contains("{{"));
    }
}
