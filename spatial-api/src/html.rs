//! HTML responses shared by the pages and the edge middleware: the pages' security
//! headers (Content-Security-Policy and framing), escaping and the message page that
//! tells people (not scripts) what went wrong.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Who may frame a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// Nobody (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).
    Deny,
    /// citygrid's own pages and these origins (already checked by [`safe_origin`]).
    Origins(Vec<String>),
    /// Any page (error pages that carry nothing worth protecting, keys without
    /// an origin restriction).
    Anyone,
}

/// The policy for pages: own origin only; MapLibre's worker is a blob and its
/// images may be data/blob URLs; the inspector's service worker is the page's own.
pub fn csp(framing: &Framing) -> String {
    let ancestors = match framing {
        Framing::Deny => "'none'".to_string(),
        Framing::Origins(origins) => {
            let mut list = vec!["'self'".to_string()];
            list.extend(origins.iter().cloned());
            list.join(" ")
        }
        Framing::Anyone => "*".to_string(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         worker-src blob: 'self'; child-src blob:; connect-src 'self'; font-src 'self'; \
         frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors {ancestors}"
    )
}

/// Whether `origin` can be written into a CSP source list as is
/// (`scheme://host[:port]`, no spaces, quotes or semicolons).
pub fn safe_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && origin.len() <= 256
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]*".contains(&b))
}

/// Adds the CSP, framing and caching headers of a page.
pub fn page_headers(headers: &mut HeaderMap, framing: &Framing) {
    if let Ok(v) = HeaderValue::from_str(&csp(framing)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if *framing == Framing::Deny {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// An HTML page that says what went wrong, for people (not for scripts).
pub fn message_page(status: StatusCode, title: &str, text: &str, framing: &Framing) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/assets/css/app.css\"></head>\
         <body><main class=\"page\"><div class=\"notice error\" role=\"alert\" id=\"citygrid-error\">\
         <h1>{title}</h1><p>{text}</p></div></main></body></html>",
        title = escape(title),
        text = escape(text),
    );
    let mut response = (status, body).into_response();
    page_headers(response.headers_mut(), framing);
    response
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert!(csp(&Framing::Deny).ends_with("frame-ancestors 'none'"));
        assert!(csp(&Framing::Origins(vec!["https://a.example".into()]))
            .ends_with("frame-ancestors 'self' https://a.example"));
        assert!(csp(&Framing::Anyone).contains("worker-src blob:"));
    }

    #[test]
    fn origins() {
        assert!(safe_origin("http://127.0.0.1:8080"));
        assert!(safe_origin("https://gis.example.gov.cn"));
        assert!(!safe_origin("https://a.example; script-src *"));
        assert!(!safe_origin("javascript:alert(1)"));
        assert!(!safe_origin("https://"));
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
