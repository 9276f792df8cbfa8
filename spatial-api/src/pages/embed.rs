//! `GET /embed/map?key=…&layers=a,b`: the minimal map that departments put in an
//! iframe. Only the origins the API key allows may frame it (`frame-ancestors`);
//! the key itself was already checked against the embedding page's origin by
//! [`crate::auth::resolve`] (from the `Referer` the browser sends with the frame
//! request). The page sends no `Referer` of its own (`<meta name="referrer">`), so
//! its tile requests are not mistaken for requests from citygrid's own origin.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::assets::read_page;
use crate::auth::{principal_origin, Principal};
use crate::html::{message_page, page_headers, safe_origin, Framing};
use crate::tiles::parse_ids;

/// The query of `/embed/map` (`key` is read by the credential middleware).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmbedQuery {
    /// Comma-separated layer ids; empty or absent: every layer the key may read.
    layers: Option<String>,
}

/// Who may frame the map of `principal`.
pub fn framing_for(principal: &Principal) -> Framing {
    match principal {
        Principal::Key(key) => match &key.origins {
            None => Framing::Anyone,
            Some(origins) => Framing::Origins(
                origins
                    .iter()
                    .map(|o| principal_origin(o))
                    .filter(|o| safe_origin(o))
                    .collect(),
            ),
        },
        _ => Framing::Origins(Vec::new()),
    }
}

/// `GET /embed/map`.
pub async fn map_page(
    axum::extract::State(catalog): axum::extract::State<std::sync::Arc<crate::catalog::Registry>>,
    principal: Principal,
    query: Result<Query<EmbedQuery>, QueryRejection>,
) -> Response {
    let layers = query
        .ok()
        .and_then(|Query(q)| q.layers)
        .filter(|l| !l.trim().is_empty());
    if let Some(layers) = &layers {
        let checked = parse_ids(layers).and_then(|ids| {
            ids.iter()
                .try_for_each(|id| catalog.require_readable(&principal, id))
                .map(|_| ids)
        });
        if let Err(e) = checked {
            return message_page(
                e.status(),
                "citygrid: this map cannot be shown",
                &format!("{e} / 无法显示此地图"),
                &Framing::Anyone,
            );
        }
    }
    match read_page("embed-map.html").await {
        Ok(bytes) => {
            let mut response = (StatusCode::OK, bytes).into_response();
            page_headers(response.headers_mut(), &framing_for(&principal));
            response
        }
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyPrincipal;

    fn key(origins: Option<Vec<String>>) -> Principal {
        Principal::Key(KeyPrincipal {
            id: 1,
            name: "k".into(),
            department: None,
            layers: None,
            origins,
            scopes: vec![crate::auth::KeyScope::Maps],
        })
    }

    #[test]
    fn framing() {
        assert_eq!(framing_for(&key(None)), Framing::Anyone);
        assert_eq!(
            framing_for(&key(Some(vec![
                "HTTP://A.example:81/".into(),
                "bad; origin".into()
            ]))),
            Framing::Origins(vec!["http://a.example:81".into()])
        );
        assert_eq!(
            framing_for(&Principal::Anonymous),
            Framing::Origins(Vec::new())
        );
    }
}
