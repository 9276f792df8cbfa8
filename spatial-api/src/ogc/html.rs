//! HTML pages of the OGC API (`f=html`, or a browser's `Accept: text/html`): the
//! landing page, conformance, collections, one collection, items and one item, for
//! people browsing the API. The JSON handlers answer as always and this layer
//! renders their JSON, so the HTML says exactly what the JSON says (and errors stay
//! errors, with their status). Items and items pages carry a small map (MapLibre
//! and the city's own style, served by citygrid: no CDN).
//!
//! Labels follow `Accept-Language` (Chinese for `zh…`, else English).

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::html::{escape, page_headers, Framing};

/// The largest JSON answer rendered as HTML (a page of 10,000 features is refused
/// with a hint to lower `limit`).
const MAX_RENDERED_BYTES: usize = 16 * 1024 * 1024;

/// The most features drawn in an items page's table.
const MAX_TABLE_ROWS: usize = 1_000;

/// Whether the request asks for HTML: `f=html`, or no `f` and `text/html` first in
/// `Accept` (what browsers send; API clients ask for JSON or `*/*`).
pub fn wants_html(query: Option<&str>, accept: Option<&str>) -> bool {
    let f = query.and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == "f")
            .map(|(_, v)| v.to_ascii_lowercase())
    });
    match f {
        Some(f) => f == "html" || f == "text%2fhtml" || f == "text/html",
        None => accept
            .and_then(|a| a.split(',').next())
            .map(|first| first.split(';').next().unwrap_or("").trim())
            .is_some_and(|m| m.eq_ignore_ascii_case("text/html")),
    }
}

/// The query without its `f` parameter.
fn without_f(query: Option<&str>) -> String {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("f"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The labels of the pages.
struct Labels {
    zh: bool,
}

impl Labels {
    fn t<'a>(&self, en: &'a str, zh: &'a str) -> &'a str {
        if self.zh {
            zh
        } else {
            en
        }
    }
}

/// Middleware on the OGC routes that answer JSON: renders their answer as HTML
/// when the client asks for it.
pub async fn negotiate(mut req: Request, next: Next) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if !wants_html(req.uri().query(), accept.as_deref()) {
        return next.run(req).await;
    }
    let zh = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.trim_start().to_ascii_lowercase().starts_with("zh"));
    let labels = Labels { zh };
    let path = req.uri().path().to_string();
    let query = without_f(req.uri().query());
    let uri = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    match uri.parse::<Uri>() {
        Ok(u) => *req.uri_mut() = u,
        Err(_) => return next.run(req).await,
    }
    req.headers_mut()
        .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let response = next.run(req).await;
    let status = response.status();
    let (parts, body) = response.into_parts();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    if !is_json {
        return Response::from_parts(parts, body);
    }
    let bytes = match to_bytes(body, MAX_RENDERED_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                &labels,
                labels.t("Too much for one page", "内容太多"),
                &format!(
                    "<p>{}</p>",
                    escape(labels.t(
                        "This answer is too large to show as a page: lower limit= or use f=json.",
                        "结果太大，无法显示为网页：请减小 limit= 或使用 f=json。"
                    ))
                ),
                None,
            )
        }
    };
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let lonlat = !query.contains("crs=") || query.contains("OGC%2F1.3%2FCRS84");
    render(status, &path, &json, &labels, lonlat)
}

fn render(status: StatusCode, path: &str, json: &Value, l: &Labels, lonlat: bool) -> Response {
    if !status.is_success() {
        let detail = ["detail", "description", "message", "error", "title"]
            .iter()
            .find_map(|k| json.get(*k).and_then(Value::as_str))
            .unwrap_or("");
        return page(
            status,
            l,
            &format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            &format!(
                "<p class=\"notice error\" role=\"alert\">{}</p>",
                escape(detail)
            ),
            None,
        );
    }
    let collection = path
        .split("/collections/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    let title = match json.get("type").and_then(Value::as_str) {
        Some("Feature") => format!(
            "{collection} · {} {}",
            l.t("feature", "要素"),
            id_text(json)
        ),
        Some("FeatureCollection") => format!("{collection} · {}", l.t("features", "要素")),
        _ => json
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| default_title(path, l)),
    };
    let mut body = String::new();
    if let Some(d) = json.get("description").and_then(Value::as_str) {
        body.push_str(&format!("<p>{}</p>", escape(d)));
    }
    let mut map = None;
    match json.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {
            feature_table(&mut body, json, l);
            if lonlat {
                map = Some(json);
            }
        }
        Some("Feature") => {
            if let Some(props) = json.get("properties").and_then(Value::as_object) {
                body.push_str("<table class=\"ogc-props\"><tbody>");
                for (k, v) in props {
                    body.push_str(&format!(
                        "<tr><th>{}</th><td>{}</td></tr>",
                        escape(k),
                        escape(&value_text(v))
                    ));
                }
                body.push_str("</tbody></table>");
            }
            if lonlat {
                map = Some(json);
            }
        }
        _ => {}
    }
    if let Some(list) = json.get("conformsTo").and_then(Value::as_array) {
        body.push_str(&format!(
            "<h2>{}</h2><ul class=\"ogc-list\">",
            escape(l.t("Conformance classes", "符合性类"))
        ));
        for c in list.iter().filter_map(Value::as_str) {
            body.push_str(&format!("<li><code>{}</code></li>", escape(c)));
        }
        body.push_str("</ul>");
    }
    if let Some(list) = json.get("collections").and_then(Value::as_array) {
        body.push_str(&format!(
            "<table class=\"ogc-table\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            escape(l.t("Collection", "数据集")),
            escape(l.t("Title", "标题")),
            escape(l.t("Extent (lon/lat)", "范围（经纬度）"))
        ));
        for c in list {
            let id = c.get("id").and_then(Value::as_str).unwrap_or("");
            body.push_str(&format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                escape(&format!("{}/{}?f=html", path.trim_end_matches('/'), id)),
                escape(id),
                escape(c.get("title").and_then(Value::as_str).unwrap_or("")),
                escape(&extent_text(c))
            ));
        }
        body.push_str("</tbody></table>");
    } else if json.get("extent").is_some() {
        body.push_str(&format!(
            "<p>{}: {}</p>",
            escape(l.t("Extent (lon/lat)", "范围（经纬度）")),
            escape(&extent_text(json))
        ));
    }
    links(&mut body, json, l);
    page(status, l, &title, &body, map)
}

fn default_title(path: &str, l: &Labels) -> String {
    let p = path.trim_end_matches('/');
    if p.ends_with("/conformance") {
        l.t("Conformance", "符合性").into()
    } else if p.ends_with("/collections") {
        l.t("Collections", "数据集").into()
    } else if p.ends_with("/items") {
        l.t("Features", "要素").into()
    } else {
        "citygrid OGC API".into()
    }
}

fn id_text(f: &Value) -> String {
    match f.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn extent_text(c: &Value) -> String {
    c.pointer("/extent/spatial/bbox/0")
        .and_then(Value::as_array)
        .map(|b| {
            b.iter()
                .filter_map(Value::as_f64)
                .map(|x| format!("{x:.5}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn feature_table(body: &mut String, fc: &Value, l: &Labels) {
    let features = fc
        .get("features")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let matched = fc.get("numberMatched").and_then(Value::as_u64);
    body.push_str(&format!(
        "<p class=\"ogc-count\">{} {}{}</p>",
        escape(l.t("Features on this page:", "本页要素：")),
        features.len(),
        matched.map(|m| format!(" / {m}")).unwrap_or_default()
    ));
    let mut keys: Vec<&str> = Vec::new();
    for f in features.iter().take(50) {
        if let Some(p) = f.get("properties").and_then(Value::as_object) {
            for k in p.keys() {
                if !keys.contains(&k.as_str()) && keys.len() < 12 {
                    keys.push(k);
                }
            }
        }
    }
    body.push_str("<div class=\"ogc-scroll\"><table class=\"ogc-table\"><thead><tr><th>id</th>");
    for k in &keys {
        body.push_str(&format!("<th>{}</th>", escape(k)));
    }
    body.push_str("</tr></thead><tbody>");
    for f in features.iter().take(MAX_TABLE_ROWS) {
        let id = id_text(f);
        body.push_str(&format!(
            "<tr><td><a href=\"items/{}?f=html\">{}</a></td>",
            escape(&urlencode(&id)),
            escape(&id)
        ));
        for k in &keys {
            let v = f.pointer(&format!(
                "/properties/{}",
                k.replace('~', "~0").replace('/', "~1")
            ));
            body.push_str(&format!(
                "<td>{}</td>",
                escape(&v.map(value_text).unwrap_or_default())
            ));
        }
        body.push_str("</tr>");
    }
    body.push_str("</tbody></table></div>");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The HTML form of a link of the API: the same address with `f=html` instead of
/// a JSON `f`.
fn html_href(href: &str) -> String {
    let (base, query) = href.split_once('?').unwrap_or((href, ""));
    let mut q: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("f"))
        .collect();
    q.push("f=html");
    format!("{base}?{}", q.join("&"))
}

fn links(body: &mut String, json: &Value, l: &Labels) {
    let Some(list) = json.get("links").and_then(Value::as_array) else {
        return;
    };
    body.push_str(&format!(
        "<h2>{}</h2><ul class=\"ogc-list\">",
        escape(l.t("Links", "链接"))
    ));
    for link in list {
        let Some(href) = link.get("href").and_then(Value::as_str) else {
            continue;
        };
        let rel = link.get("rel").and_then(Value::as_str).unwrap_or("");
        let kind = link.get("type").and_then(Value::as_str).unwrap_or("");
        let title = link.get("title").and_then(Value::as_str).unwrap_or(rel);
        let browsable =
            (kind.contains("json") && !kind.contains("schema") && !kind.contains("openapi"))
                && href.contains("/ogc");
        let shown = if browsable {
            html_href(href)
        } else {
            href.to_string()
        };
        body.push_str(&format!(
            "<li><a href=\"{}\">{}</a> <small>{} {}</small></li>",
            escape(&shown),
            escape(title),
            escape(rel),
            escape(kind)
        ));
    }
    body.push_str("</ul>");
}

fn page(status: StatusCode, l: &Labels, title: &str, body: &str, map: Option<&Value>) -> Response {
    let (map_div, data, scripts) = match map {
        Some(geojson) => {
            // JSON in a non-executed script block; `<` escaped so no text closes it
            let data = geojson.to_string().replace('<', "\\u003c");
            (
                "<div id=\"ogc-map\" class=\"ogc-map\"></div>",
                format!("<script type=\"application/json\" id=\"ogc-data\">{data}</script>"),
                "<link rel=\"stylesheet\" href=\"/assets/vendor/maplibre-gl.css\">\
                 <script src=\"/assets/vendor/maplibre-gl.js\"></script>\
                 <script type=\"module\" src=\"/assets/js/ogc-page.js\"></script>",
            )
        }
        None => ("", String::new(), ""),
    };
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/assets/css/app.css\">\
         <link rel=\"stylesheet\" href=\"/assets/css/ogc.css\">{scripts}</head>\
         <body><main class=\"page ogc-page\"><nav class=\"ogc-nav\"><a href=\"/ogc?f=html\">OGC API</a> · \
         <a href=\"/ogc/collections?f=html\">{collections}</a> · <a href=\"/ogc/conformance?f=html\">{conformance}</a> · \
         <a href=\"?f=json\">JSON</a></nav><h1>{title}</h1>{map_div}{body}</main>{data}</body></html>",
        lang = if l.zh { "zh-CN" } else { "en" },
        title = escape(title),
        collections = escape(l.t("Collections", "数据集")),
        conformance = escape(l.t("Conformance", "符合性")),
    );
    let mut response = (status, Body::from(html)).into_response();
    page_headers(response.headers_mut(), &Framing::Deny);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_asked_by_f_or_by_a_browser() {
        assert!(wants_html(Some("f=html"), None));
        assert!(wants_html(Some("limit=2&f=html"), Some("application/json")));
        assert!(!wants_html(Some("f=json"), Some("text/html")));
        assert!(wants_html(
            None,
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        ));
        assert!(!wants_html(None, Some("application/geo+json, */*")));
        assert!(!wants_html(None, Some("*/*")));
        assert!(!wants_html(None, None));
        assert_eq!(
            without_f(Some("limit=2&f=html&bbox=1,2,3,4")),
            "limit=2&bbox=1,2,3,4"
        );
        assert_eq!(
            html_href("http://h/ogc/collections/a/items?f=json&limit=10"),
            "http://h/ogc/collections/a/items?limit=10&f=html"
        );
    }
}
