//! The Open311 GeoReport v2 mapping (domain.md §7): services from categories, service
//! definitions, requests from cases, JSON and XML output, and parsing of the POST form.
//!
//! - one service per category: `service_code` is the textual category code (`E0505`,
//!   `P0101`), `group` the major class name, `type` is `realtime`, `metadata` is true when
//!   the category asks extra attributes;
//! - status `closed` for closed or voided cases, else `open`;
//! - timestamps are ISO 8601 with offset (`2025-05-12T09:00:00+08:00`), text is UTF-8.
//!
//! XML follows the element names of the specification: `<services><service>…`,
//! `<service_definition>`, `<service_requests><request>…`, `<errors><error>…`,
//! `<discovery>`. Absent values are empty elements in XML and `null` in JSON.
//!
//! ```
//! use citygrid_grid_mgmt::catalog::Catalog;
//! use citygrid_grid_mgmt::open311::*;
//!
//! let cat = Catalog::default_seed();
//! let services = services(&cat, Lang::Zh);
//! let xml = render_services(&services, Format::Xml);
//! assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>P0101</service_code><service_name>上水井盖</service_name>"));
//!
//! let req = parse_new_request("api_key=k&service_code=E0505&lat=30.59&long=114.30&description=bikes+on+the+path").unwrap();
//! assert_eq!(req.service_code.to_string(), "E0505");
//! assert_eq!(req.description.as_deref(), Some("bikes on the path"));
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::{Deserialize, Serialize};

use crate::catalog::{AttributeType, Catalog, Category};
use crate::codes::CategoryCode;
use crate::workflow::CaseState;
use crate::xml::XmlWriter;

/// Output format (the `.json` / `.xml` suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/xml`.
    Xml,
}

impl Format {
    /// From a path suffix (`json` or `xml`).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }
    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// Which names to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Chinese names.
    Zh,
    /// English names.
    En,
}

/// A service (GET services).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Category code, e.g. `E0505`.
    pub service_code: String,
    /// Category name.
    pub service_name: String,
    /// Longer description (the registration condition).
    pub description: String,
    /// Whether a service definition with attributes exists.
    pub metadata: bool,
    /// Always `realtime`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// Comma-separated keywords.
    pub keywords: String,
    /// The major class name.
    pub group: String,
}

fn names(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => zh.to_owned(),
        Lang::En => en.to_owned(),
    }
}

fn service_of(catalog: &Catalog, c: &Category, lang: Lang) -> Service {
    let group = catalog
        .major_name(c.code.major_class())
        .map(|m| names(lang, &m.name_zh, &m.name_en))
        .unwrap_or_default();
    Service {
        service_code: c.code.to_string(),
        service_name: names(lang, &c.name_zh, &c.name_en),
        description: c.register_condition.clone(),
        metadata: !c.attributes.is_empty(),
        service_type: "realtime".into(),
        keywords: format!("{},{},{}", c.name_zh, c.name_en, c.code.kind),
        group,
    }
}

/// One service per category, in catalogue order.
pub fn services(catalog: &Catalog, lang: Lang) -> Vec<Service> {
    catalog
        .categories
        .iter()
        .map(|c| service_of(catalog, c, lang))
        .collect()
}

/// One allowed value of a list attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceValue {
    /// Key.
    pub key: String,
    /// Name.
    pub name: String,
}

/// One attribute of a service definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAttribute {
    /// `true`: the client must ask the user.
    pub variable: bool,
    /// Attribute code.
    pub code: String,
    /// string, number, datetime, text, singlevaluelist, multivaluelist.
    pub datatype: String,
    /// Whether required.
    pub required: bool,
    /// Extra type description.
    pub datatype_description: Option<String>,
    /// Display order, from 1.
    pub order: u32,
    /// The question.
    pub description: String,
    /// Allowed values for list types.
    pub values: Vec<ServiceValue>,
}

/// A service definition (GET services/{code}).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDefinition {
    /// The service code.
    pub service_code: String,
    /// Its attributes.
    pub attributes: Vec<ServiceAttribute>,
}

/// The definition of a service, `None` if no such category exists.
pub fn service_definition(catalog: &Catalog, code: &CategoryCode) -> Option<ServiceDefinition> {
    let c = catalog.category(code)?;
    Some(ServiceDefinition {
        service_code: c.code.to_string(),
        attributes: c
            .attributes
            .iter()
            .zip(1..)
            .map(|(a, order)| ServiceAttribute {
                variable: true,
                code: a.code.clone(),
                datatype: a.datatype.as_str().into(),
                required: a.required,
                datatype_description: None,
                order,
                description: a.description.clone(),
                values: a
                    .values
                    .iter()
                    .map(|v| ServiceValue {
                        key: v.key.clone(),
                        name: v.name.clone(),
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// Open311 request status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Anything not closed or voided.
    Open,
    /// Closed or voided.
    Closed,
}

impl RequestStatus {
    /// `open` / `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Closed => "closed",
        }
    }
}

/// `closed` for closed or voided cases, else `open`.
pub fn status_of(state: CaseState) -> RequestStatus {
    if state.is_final() {
        RequestStatus::Closed
    } else {
        RequestStatus::Open
    }
}

/// What a public request shows of a case (the caller fills it from the database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// Case id.
    pub id: String,
    /// Current state.
    pub state: CaseState,
    /// Category.
    pub category: CategoryCode,
    /// Reporter's description.
    pub description: Option<String>,
    /// Name of the assigned department.
    pub department_name: Option<String>,
    /// The last public note.
    pub last_public_note: Option<String>,
    /// Reported at.
    pub reported_at: DateTime<FixedOffset>,
    /// Last change.
    pub updated_at: Option<DateTime<FixedOffset>>,
    /// Handling deadline.
    pub handling_deadline: Option<DateTime<FixedOffset>>,
    /// Address text.
    pub address: Option<String>,
    /// Latitude (WGS84).
    pub lat: Option<f64>,
    /// Longitude (WGS84).
    pub lon: Option<f64>,
    /// Photo URL.
    pub media_url: Option<String>,
}

/// A service request (GET requests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRequest {
    /// Case id.
    pub service_request_id: String,
    /// open / closed.
    pub status: RequestStatus,
    /// Last public note.
    pub status_notes: Option<String>,
    /// Category name.
    pub service_name: Option<String>,
    /// Category code.
    pub service_code: String,
    /// Description.
    pub description: Option<String>,
    /// Department name.
    pub agency_responsible: Option<String>,
    /// Notice to the public.
    pub service_notice: Option<String>,
    /// Reported at (ISO 8601).
    pub requested_datetime: String,
    /// Last change (ISO 8601).
    pub updated_datetime: Option<String>,
    /// Handling deadline (ISO 8601).
    pub expected_datetime: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Address id.
    pub address_id: Option<String>,
    /// Postal code.
    pub zipcode: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub long: Option<f64>,
    /// Photo.
    pub media_url: Option<String>,
}

/// ISO 8601 with offset, seconds precision (`Z` for UTC).
pub fn iso8601(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Map a case to a service request.
pub fn service_request(case: &CaseSummary, catalog: &Catalog, lang: Lang) -> ServiceRequest {
    ServiceRequest {
        service_request_id: case.id.clone(),
        status: status_of(case.state),
        status_notes: case.last_public_note.clone(),
        service_name: catalog
            .category(&case.category)
            .map(|c| names(lang, &c.name_zh, &c.name_en)),
        service_code: case.category.to_string(),
        description: case.description.clone(),
        agency_responsible: case.department_name.clone(),
        service_notice: None,
        requested_datetime: iso8601(case.reported_at),
        updated_datetime: case.updated_at.map(iso8601),
        expected_datetime: case.handling_deadline.map(iso8601),
        address: case.address.clone(),
        address_id: None,
        zipcode: None,
        lat: case.lat,
        long: case.lon,
        media_url: case.media_url.clone(),
    }
}

/// The answer to a POST: the new id (or a token when the id is not known yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCreated {
    /// The new case id.
    pub service_request_id: Option<String>,
    /// A token to look the id up later.
    pub token: Option<String>,
    /// Notice to the reporter.
    pub service_notice: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
}

/// One error of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorItem {
    /// HTTP-like code (400, 403, 404).
    pub code: u16,
    /// Human-readable message.
    pub description: String,
}

/// The discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// Last change of the document.
    pub changeset: String,
    /// Contact text.
    pub contact: String,
    /// Where to get an API key.
    pub key_service: String,
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of the discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `http://wiki.open311.org/GeoReport_v2`.
    pub specification: String,
    /// Base URL, e.g. `https://city.example/open311/v2`.
    pub url: String,
    /// Last change.
    pub changeset: String,
    /// `production` or `test`.
    #[serde(rename = "type")]
    pub endpoint_type: String,
    /// MIME types offered.
    pub formats: Vec<String>,
}

/// A discovery document with one production endpoint offering XML and JSON.
pub fn discovery(
    base_url: &str,
    contact: &str,
    key_service: &str,
    changeset: DateTime<FixedOffset>,
) -> Discovery {
    let cs = iso8601(changeset);
    Discovery {
        changeset: cs.clone(),
        contact: contact.into(),
        key_service: key_service.into(),
        endpoints: vec![Endpoint {
            specification: "http://wiki.open311.org/GeoReport_v2".into(),
            url: base_url.into(),
            changeset: cs,
            endpoint_type: "production".into(),
            formats: vec!["text/xml".into(), "application/json".into()],
        }],
    }
}

fn json<T: Serialize + ?Sized>(v: &T) -> String {
    // serialising these plain structs cannot fail (no maps with non-string keys)
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn b(v: bool) -> Option<&'static str> {
    Some(if v { "true" } else { "false" })
}

/// GET services.
pub fn render_services(services: &[Service], format: Format) -> String {
    match format {
        Format::Json => json(services),
        Format::Xml => {
            let mut w = XmlWriter::new();
            w.open("services");
            for s in services {
                w.open("service")
                    .text("service_code", Some(&s.service_code))
                    .text("service_name", Some(&s.service_name))
                    .text("description", Some(&s.description))
                    .text("metadata", b(s.metadata))
                    .text("type", Some(&s.service_type))
                    .text("keywords", Some(&s.keywords))
                    .text("group", Some(&s.group))
                    .close("service");
            }
            w.close("services");
            w.finish()
        }
    }
}

/// GET services/{code}.
pub fn render_service_definition(def: &ServiceDefinition, format: Format) -> String {
    match format {
        Format::Json => json(def),
        Format::Xml => {
            let mut w = XmlWriter::new();
            w.open("service_definition")
                .text("service_code", Some(&def.service_code))
                .open("attributes");
            for a in &def.attributes {
                w.open("attribute")
                    .text("variable", b(a.variable))
                    .text("code", Some(&a.code))
                    .text("datatype", Some(&a.datatype))
                    .text("required", b(a.required))
                    .text("datatype_description", a.datatype_description.as_deref())
                    .text("order", Some(&a.order.to_string()))
                    .text("description", Some(&a.description));
                if !a.values.is_empty() {
                    w.open("values");
                    for v in &a.values {
                        w.open("value")
                            .text("key", Some(&v.key))
                            .text("name", Some(&v.name))
                            .close("value");
                    }
                    w.close("values");
                }
                w.close("attribute");
            }
            w.close("attributes").close("service_definition");
            w.finish()
        }
    }
}

/// GET requests and GET requests/{id} (a list of one).
pub fn render_requests(requests: &[ServiceRequest], format: Format) -> String {
    match format {
        Format::Json => json(requests),
        Format::Xml => {
            let mut w = XmlWriter::new();
            w.open("service_requests");
            for r in requests {
                let lat = r.lat.map(|v| v.to_string());
                let long = r.long.map(|v| v.to_string());
                w.open("request")
                    .text("service_request_id", Some(&r.service_request_id))
                    .text("status", Some(r.status.as_str()))
                    .text("status_notes", r.status_notes.as_deref())
                    .text("service_name", r.service_name.as_deref())
                    .text("service_code", Some(&r.service_code))
                    .text("description", r.description.as_deref())
                    .text("agency_responsible", r.agency_responsible.as_deref())
                    .text("service_notice", r.service_notice.as_deref())
                    .text("requested_datetime", Some(&r.requested_datetime))
                    .text("updated_datetime", r.updated_datetime.as_deref())
                    .text("expected_datetime", r.expected_datetime.as_deref())
                    .text("address", r.address.as_deref())
                    .text("address_id", r.address_id.as_deref())
                    .text("zipcode", r.zipcode.as_deref())
                    .text("lat", lat.as_deref())
                    .text("long", long.as_deref())
                    .text("media_url", r.media_url.as_deref())
                    .close("request");
            }
            w.close("service_requests");
            w.finish()
        }
    }
}

/// POST requests response, and GET tokens/{token} (a list of one each).
pub fn render_created(created: &[RequestCreated], format: Format) -> String {
    match format {
        Format::Json => json(created),
        Format::Xml => {
            let mut w = XmlWriter::new();
            w.open("service_requests");
            for c in created {
                w.open("request");
                w.text("service_request_id", c.service_request_id.as_deref());
                if c.token.is_some() {
                    w.text("token", c.token.as_deref());
                }
                w.text("service_notice", c.service_notice.as_deref())
                    .text("account_id", c.account_id.as_deref())
                    .close("request");
            }
            w.close("service_requests");
            w.finish()
        }
    }
}

/// An error response.
pub fn render_errors(errors: &[ErrorItem], format: Format) -> String {
    match format {
        Format::Json => json(errors),
        Format::Xml => {
            let mut w = XmlWriter::new();
            w.open("errors");
            for e in errors {
                w.open("error")
                    .text("code", Some(&e.code.to_string()))
                    .text("description", Some(&e.description))
                    .close("error");
            }
            w.close("errors");
            w.finish()
        }
    }
}

/// The discovery document.
pub fn render_discovery(d: &Discovery, format: Format) -> String {
    match format {
        Format::Json => json(d),
        Format::Xml => {
            let mut w = XmlWriter::new();
            w.open("discovery")
                .text("changeset", Some(&d.changeset))
                .text("contact", Some(&d.contact))
                .text("key_service", Some(&d.key_service))
                .open("endpoints");
            for e in &d.endpoints {
                w.open("endpoint")
                    .text("specification", Some(&e.specification))
                    .text("url", Some(&e.url))
                    .text("changeset", Some(&e.changeset))
                    .text("type", Some(&e.endpoint_type))
                    .open("formats");
                for f in &e.formats {
                    w.text("format", Some(f));
                }
                w.close("formats").close("endpoint");
            }
            w.close("endpoints").close("discovery");
            w.finish()
        }
    }
}

/// A rejected request; [`Open311Error::code`] gives the Open311/HTTP code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Open311Error {
    /// A required field is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// No location given.
    #[error("a location is required: lat and long, address_string or address_id")]
    NoLocation,
    /// A field with a bad value.
    #[error("{field} is invalid: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A single-valued field given twice.
    #[error("{0} was given more than once")]
    Duplicate(String),
    /// A field that is too long.
    #[error("{field} must be at most {max} characters, got {got}")]
    TooLong {
        /// The field.
        field: String,
        /// The limit.
        max: usize,
        /// The length.
        got: usize,
    },
    /// The body is not valid form encoding or not UTF-8.
    #[error("the request body is not valid application/x-www-form-urlencoded UTF-8: {0}")]
    BadEncoding(&'static str),
    /// No such service.
    #[error("service_code {0} is not a known service")]
    UnknownService(String),
}

impl Open311Error {
    /// 404 for an unknown service, else 400.
    pub fn code(&self) -> u16 {
        match self {
            Open311Error::UnknownService(_) => 404,
            _ => 400,
        }
    }
    /// As an error item for [`render_errors`].
    pub fn to_item(&self) -> ErrorItem {
        ErrorItem {
            code: self.code(),
            description: self.to_string(),
        }
    }
}

/// A parsed POST requests form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRequest {
    /// API key (checked by the HTTP layer).
    pub api_key: Option<String>,
    /// Jurisdiction id.
    pub jurisdiction_id: Option<String>,
    /// The category.
    pub service_code: CategoryCode,
    /// Latitude (WGS84), with `long`.
    pub lat: Option<f64>,
    /// Longitude (WGS84), with `lat`.
    pub long: Option<f64>,
    /// Address text.
    pub address_string: Option<String>,
    /// Address id.
    pub address_id: Option<String>,
    /// `attribute[code]` values (several for `attribute[code][]`).
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Reporter's email.
    pub email: Option<String>,
    /// Device id.
    pub device_id: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Description, at most 4000 characters.
    pub description: Option<String>,
    /// Photo URL.
    pub media_url: Option<String>,
}

/// Maximum description length in characters.
pub const MAX_DESCRIPTION: usize = 4000;
/// Maximum length of any other field in characters.
pub const MAX_FIELD: usize = 1000;
/// Maximum number of attributes.
pub const MAX_ATTRIBUTES: usize = 100;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode one `application/x-www-form-urlencoded` component (`+` is a space).
fn decode(s: &str) -> Result<String, Open311Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = bytes.get(i + 1).copied().and_then(hex);
                let l = bytes.get(i + 2).copied().and_then(hex);
                match (h, l) {
                    (Some(h), Some(l)) => out.push(h * 16 + l),
                    _ => {
                        return Err(Open311Error::BadEncoding(
                            "a % not followed by two hex digits",
                        ))
                    }
                }
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Open311Error::BadEncoding("invalid UTF-8"))
}

/// Parse a form body into `(key, value)` pairs.
pub fn parse_form(body: &str) -> Result<Vec<(String, String)>, Open311Error> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn set(
    slot: &mut Option<String>,
    key: &str,
    value: String,
    max: usize,
) -> Result<(), Open311Error> {
    if slot.is_some() {
        return Err(Open311Error::Duplicate(key.into()));
    }
    let n = value.chars().count();
    if n > max {
        return Err(Open311Error::TooLong {
            field: key.into(),
            max,
            got: n,
        });
    }
    *slot = Some(value);
    Ok(())
}

fn coordinate(field: &str, s: &str, limit: f64) -> Result<f64, Open311Error> {
    let v: f64 = s.trim().parse().map_err(|_| Open311Error::Invalid {
        field: field.into(),
        reason: format!("{s:?} is not a number"),
    })?;
    if !v.is_finite() || v.abs() > limit {
        return Err(Open311Error::Invalid {
            field: field.into(),
            reason: format!("must be between -{limit} and {limit}, got {s}"),
        });
    }
    Ok(v)
}

fn valid_email(s: &str) -> bool {
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parse the form-urlencoded body of POST requests into a [`NewRequest`].
///
/// Rules: `service_code` is required and must be a category code; a location is required
/// (`lat` and `long` together, or `address_string`, or `address_id`); `lat` within ±90,
/// `long` within ±180; `description` at most 4000 characters, other fields at most 1000;
/// `email` must look like an address; `media_url` must be http(s). Empty values count as
/// absent, unknown fields are ignored, and single-valued fields may not repeat.
pub fn parse_new_request(body: &str) -> Result<NewRequest, Open311Error> {
    let mut f: BTreeMap<&'static str, Option<String>> = BTreeMap::new();
    const FIELDS: [&str; 15] = [
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    ];
    for k in FIELDS {
        f.insert(k, None);
    }
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in parse_form(body)? {
        if value.trim().is_empty() {
            continue;
        }
        if let Some(rest) = key.strip_prefix("attribute[") {
            let (code, tail) = rest.split_once(']').ok_or_else(|| Open311Error::Invalid {
                field: key.clone(),
                reason: "expected attribute[code] or attribute[code][]".into(),
            })?;
            if code.is_empty() || !(tail.is_empty() || tail == "[]") {
                return Err(Open311Error::Invalid {
                    field: key.clone(),
                    reason: "expected attribute[code] or attribute[code][]".into(),
                });
            }
            if value.chars().count() > MAX_FIELD {
                return Err(Open311Error::TooLong {
                    field: key.clone(),
                    max: MAX_FIELD,
                    got: value.chars().count(),
                });
            }
            if !attributes.contains_key(code) && attributes.len() >= MAX_ATTRIBUTES {
                return Err(Open311Error::Invalid {
                    field: "attribute".into(),
                    reason: format!("at most {MAX_ATTRIBUTES} attributes"),
                });
            }
            attributes.entry(code.to_owned()).or_default().push(value);
            continue;
        }
        if let Some((&name, slot)) = f.iter_mut().find(|(k, _)| **k == key) {
            let max = if name == "description" {
                MAX_DESCRIPTION
            } else {
                MAX_FIELD
            };
            set(slot, name, value, max)?;
        }
    }
    let mut take = |k: &str| f.get_mut(k).and_then(Option::take);

    let code = take("service_code").ok_or(Open311Error::Missing("service_code"))?;
    let service_code: CategoryCode =
        code.trim()
            .parse()
            .map_err(|e: crate::codes::CodeError| Open311Error::Invalid {
                field: "service_code".into(),
                reason: e.to_string(),
            })?;
    let lat = take("lat")
        .map(|s| coordinate("lat", &s, 90.0))
        .transpose()?;
    let long = take("long")
        .map(|s| coordinate("long", &s, 180.0))
        .transpose()?;
    match (lat, long) {
        (Some(_), None) => return Err(Open311Error::Missing("long (given lat)")),
        (None, Some(_)) => return Err(Open311Error::Missing("lat (given long)")),
        _ => {}
    }
    let address_string = take("address_string");
    let address_id = take("address_id");
    if lat.is_none() && address_string.is_none() && address_id.is_none() {
        return Err(Open311Error::NoLocation);
    }
    let email = take("email");
    if let Some(e) = &email {
        if !valid_email(e) {
            return Err(Open311Error::Invalid {
                field: "email".into(),
                reason: format!("{e:?} is not an email address"),
            });
        }
    }
    let media_url = take("media_url");
    if let Some(u) = &media_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(Open311Error::Invalid {
                field: "media_url".into(),
                reason: "must be an http:// or https:// URL".into(),
            });
        }
    }
    Ok(NewRequest {
        api_key: take("api_key"),
        jurisdiction_id: take("jurisdiction_id"),
        service_code,
        lat,
        long,
        address_string,
        address_id,
        attributes,
        email,
        device_id: take("device_id"),
        account_id: take("account_id"),
        first_name: take("first_name"),
        last_name: take("last_name"),
        phone: take("phone"),
        description: take("description"),
        media_url,
    })
}

/// Check a parsed request against the catalogue: the service exists, required
/// attributes are present, list values are allowed, numbers parse, single-valued
/// attributes have one value. Attributes the service does not define are ignored.
pub fn validate_request(req: &NewRequest, catalog: &Catalog) -> Result<(), Open311Error> {
    let cat = catalog
        .category(&req.service_code)
        .ok_or_else(|| Open311Error::UnknownService(req.service_code.to_string()))?;
    for a in &cat.attributes {
        let field = || format!("attribute[{}]", a.code);
        let values = req
            .attributes
            .get(&a.code)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if values.is_empty() {
            if a.required {
                return Err(Open311Error::Invalid {
                    field: field(),
                    reason: "is required for this service".into(),
                });
            }
            continue;
        }
        if a.datatype != AttributeType::Multivaluelist && values.len() > 1 {
            return Err(Open311Error::Duplicate(field()));
        }
        for v in values {
            let ok = match a.datatype {
                AttributeType::Singlevaluelist | AttributeType::Multivaluelist => {
                    a.values.iter().any(|x| &x.key == v)
                }
                AttributeType::Number => v.trim().parse::<f64>().is_ok_and(f64::is_finite),
                AttributeType::Datetime => DateTime::parse_from_rfc3339(v.trim()).is_ok(),
                AttributeType::String | AttributeType::Text => true,
            };
            if !ok {
                return Err(Open311Error::Invalid {
                    field: field(),
                    reason: format!("{v:?} is not a valid {}", a.datatype.as_str()),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn services_from_categories() {
        let cat = Catalog::default_seed();
        let s = services(&cat, Lang::En);
        assert_eq!(s.len(), cat.categories.len());
        let e = s.iter().find(|x| x.service_code == "E0505").unwrap();
        assert_eq!(e.group, "Street order");
        assert_eq!(e.service_type, "realtime");
        assert!(!e.metadata);
        let p = s.iter().find(|x| x.service_code == "P0101").unwrap();
        assert!(p.metadata);
        let v: serde_json::Value =
            serde_json::from_str(&render_services(&s[..1], Format::Json)).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{
                "service_code": "P0101", "service_name": "Water-supply manhole cover",
                "description": "上水井盖破损、丢失或被占用，影响使用或安全", "metadata": true,
                "type": "realtime", "keywords": "上水井盖,Water-supply manhole cover,component",
                "group": "Public utilities"
            }])
        );
        let zh = services(&cat, Lang::Zh);
        let xml = render_services(&zh[..1], Format::Xml);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>P0101</service_code><service_name>上水井盖</service_name><description>上水井盖破损、丢失或被占用，影响使用或安全</description><metadata>true</metadata><type>realtime</type><keywords>上水井盖,Water-supply manhole cover,component</keywords><group>公用设施</group></service></services>"
        );
    }

    #[test]
    fn service_definition_json_and_xml() {
        let cat = Catalog::default_seed();
        assert!(service_definition(&cat, &"E0699".parse().unwrap()).is_none());
        let d = service_definition(&cat, &"P0102".parse().unwrap()).unwrap();
        assert_eq!(d.attributes.len(), 2);
        assert_eq!(d.attributes[0].order, 1);
        let xml = render_service_definition(&d, Format::Xml);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><service_definition><service_code>P0102</service_code><attributes><attribute><variable>true</variable><code>condition</code><datatype>singlevaluelist</datatype><required>true</required><datatype_description/><order>1</order>"), "{xml}");
        assert!(xml.contains("<values><value><key>damaged</key><name>破损 damaged</name></value>"));
        assert!(xml.ends_with("</attribute></attributes></service_definition>"));
        let v: serde_json::Value =
            serde_json::from_str(&render_service_definition(&d, Format::Json)).unwrap();
        assert_eq!(v["attributes"][1]["code"], "component_id");
        assert_eq!(
            v["attributes"][1]["datatype_description"],
            serde_json::Value::Null
        );
    }

    fn summary(state: CaseState) -> CaseSummary {
        CaseSummary {
            id: "2025-000123".into(),
            state,
            category: "E0505".parse().unwrap(),
            description: Some("Bikes <blocking> the \"path\" & ramp".into()),
            department_name: Some("城管执法局".into()),
            last_public_note: Some("已派遣".into()),
            reported_at: t("2025-05-12T09:00:00+08:00"),
            updated_at: Some(t("2025-05-12T10:00:00+08:00")),
            handling_deadline: Some(t("2025-05-12T13:00:00Z")),
            address: None,
            lat: Some(30.59),
            lon: Some(114.3),
            media_url: None,
        }
    }

    #[test]
    fn status_mapping() {
        for s in CaseState::ALL {
            let expect = if matches!(s, CaseState::Closed | CaseState::Voided) {
                "closed"
            } else {
                "open"
            };
            assert_eq!(status_of(s).as_str(), expect, "{s}");
        }
    }

    #[test]
    fn requests_json_and_xml() {
        let cat = Catalog::default_seed();
        let r = service_request(&summary(CaseState::Handling), &cat, Lang::Zh);
        let xml = render_requests(std::slice::from_ref(&r), Format::Xml);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><service_requests><request><service_request_id>2025-000123</service_request_id><status>open</status><status_notes>已派遣</status_notes><service_name>非机动车乱停放</service_name><service_code>E0505</service_code><description>Bikes &lt;blocking&gt; the &quot;path&quot; &amp; ramp</description><agency_responsible>城管执法局</agency_responsible><service_notice/><requested_datetime>2025-05-12T09:00:00+08:00</requested_datetime><updated_datetime>2025-05-12T10:00:00+08:00</updated_datetime><expected_datetime>2025-05-12T13:00:00Z</expected_datetime><address/><address_id/><zipcode/><lat>30.59</lat><long>114.3</long><media_url/></request></service_requests>"
        );
        let v: serde_json::Value =
            serde_json::from_str(&render_requests(&[r], Format::Json)).unwrap();
        assert_eq!(v[0]["status"], "open");
        assert_eq!(v[0]["long"], 114.3);
        assert_eq!(v[0]["expected_datetime"], "2025-05-12T13:00:00Z");
        let closed = service_request(&summary(CaseState::Voided), &cat, Lang::En);
        assert_eq!(closed.status, RequestStatus::Closed);
        assert_eq!(
            closed.service_name.as_deref(),
            Some("Illegally parked bicycles")
        );
    }

    #[test]
    fn created_errors_discovery() {
        let c = RequestCreated {
            service_request_id: Some("42".into()),
            token: None,
            service_notice: Some("Thanks".into()),
            account_id: None,
        };
        assert_eq!(
            render_created(std::slice::from_ref(&c), Format::Xml),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><service_requests><request><service_request_id>42</service_request_id><service_notice>Thanks</service_notice><account_id/></request></service_requests>"
        );
        assert_eq!(
            render_created(&[c], Format::Json),
            r#"[{"service_request_id":"42","token":null,"service_notice":"Thanks","account_id":null}]"#
        );
        let e = parse_new_request("lat=1").unwrap_err().to_item();
        assert_eq!(
            render_errors(std::slice::from_ref(&e), Format::Xml),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><errors><error><code>400</code><description>service_code is required</description></error></errors>"
        );
        assert_eq!(
            render_errors(&[e], Format::Json),
            r#"[{"code":400,"description":"service_code is required"}]"#
        );
        let d = discovery(
            "https://city.example/open311/v2",
            "ops@city.example",
            "https://city.example/keys",
            t("2025-05-01T00:00:00+08:00"),
        );
        let xml = render_discovery(&d, Format::Xml);
        assert!(xml.contains("<endpoint><specification>http://wiki.open311.org/GeoReport_v2</specification><url>https://city.example/open311/v2</url><changeset>2025-05-01T00:00:00+08:00</changeset><type>production</type><formats><format>text/xml</format><format>application/json</format></formats></endpoint>"));
        let v: serde_json::Value =
            serde_json::from_str(&render_discovery(&d, Format::Json)).unwrap();
        assert_eq!(v["endpoints"][0]["type"], "production");
        assert_eq!(Format::from_extension("xml"), Some(Format::Xml));
        assert_eq!(Format::from_extension("html"), None);
    }

    #[test]
    fn parse_full_form() {
        let body = "api_key=abc&jurisdiction_id=wuhan&service_code=P0101&lat=30.59&long=114.30\
            &address_string=%E6%B1%9F%E6%B1%89%E8%B7%AF+1%E5%8F%B7&attribute%5Bcondition%5D=missing\
            &attribute[tags][]=a&attribute[tags][]=b&email=a%40b.cn&first_name=San&last_name=Zhang\
            &phone=%2B86+27+1234&description=cover+gone&media_url=https%3A%2F%2Fimg.example%2F1.jpg\
            &unknown=ignored&device_id=&account_id=7";
        let r = parse_new_request(body).unwrap();
        assert_eq!(r.api_key.as_deref(), Some("abc"));
        assert_eq!((r.lat, r.long), (Some(30.59), Some(114.30)));
        assert_eq!(r.address_string.as_deref(), Some("江汉路 1号"));
        assert_eq!(r.attributes["condition"], vec!["missing"]);
        assert_eq!(r.attributes["tags"], vec!["a", "b"]);
        assert_eq!(r.email.as_deref(), Some("a@b.cn"));
        assert_eq!(r.phone.as_deref(), Some("+86 27 1234"));
        assert_eq!(r.media_url.as_deref(), Some("https://img.example/1.jpg"));
        assert_eq!(r.device_id, None);
        assert_eq!(r.account_id.as_deref(), Some("7"));
        validate_request(&r, &Catalog::default_seed()).unwrap();
    }

    #[test]
    fn parse_errors_are_clear() {
        let err = |b: &str| parse_new_request(b).unwrap_err().to_string();
        assert_eq!(
            err("service_code=E0505"),
            "a location is required: lat and long, address_string or address_id"
        );
        assert_eq!(
            err("service_code=E0505&lat=30"),
            "long (given lat) is required"
        );
        assert_eq!(
            err("service_code=E0505&lat=95&long=114"),
            "lat is invalid: must be between -90 and 90, got 95"
        );
        assert_eq!(
            err("service_code=E0505&lat=abc&long=114"),
            "lat is invalid: \"abc\" is not a number"
        );
        assert_eq!(
            err("service_code=E0505&lat=NaN&long=114"),
            "lat is invalid: must be between -90 and 90, got NaN"
        );
        assert_eq!(err("service_code=X1&address_id=1"), "service_code is invalid: category code must be 5 characters: P or E + 4 digits (e.g. P0101, E0505), got 2");
        assert_eq!(
            err("service_code=E0505&service_code=E0501&address_id=1"),
            "service_code was given more than once"
        );
        assert_eq!(
            err("service_code=E0505&address_id=1&email=nope"),
            "email is invalid: \"nope\" is not an email address"
        );
        assert_eq!(
            err("service_code=E0505&address_id=1&media_url=ftp://x"),
            "media_url is invalid: must be an http:// or https:// URL"
        );
        assert_eq!(
            err("service_code=E0505&address_id=1&attribute[x=1"),
            "attribute[x is invalid: expected attribute[code] or attribute[code][]"
        );
        assert_eq!(err("service_code=E0505&address_id=%ZZ"), "the request body is not valid application/x-www-form-urlencoded UTF-8: a % not followed by two hex digits");
        assert_eq!(
            err("service_code=E0505&address_id=%FF"),
            "the request body is not valid application/x-www-form-urlencoded UTF-8: invalid UTF-8"
        );
        // description: 4000 characters (not bytes) pass, 4001 fail
        let ok = format!(
            "service_code=E0505&address_id=1&description={}",
            "井".repeat(4000)
        );
        assert_eq!(
            parse_new_request(&ok)
                .unwrap()
                .description
                .unwrap()
                .chars()
                .count(),
            4000
        );
        let long = format!(
            "service_code=E0505&address_id=1&description={}",
            "a".repeat(4001)
        );
        assert_eq!(
            parse_new_request(&long).unwrap_err().to_string(),
            "description must be at most 4000 characters, got 4001"
        );
        assert_eq!(
            parse_new_request("service_code=E0505").unwrap_err().code(),
            400
        );
    }

    #[test]
    fn validate_against_catalog() {
        let cat = Catalog::default_seed();
        let r = parse_new_request("service_code=E0699&address_id=1").unwrap();
        let e = validate_request(&r, &cat).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (404, "service_code E0699 is not a known service".into())
        );
        let r = parse_new_request("service_code=P0101&address_id=1").unwrap();
        assert_eq!(
            validate_request(&r, &cat).unwrap_err().to_string(),
            "attribute[condition] is invalid: is required for this service"
        );
        let r = parse_new_request("service_code=P0101&address_id=1&attribute[condition]=stolen")
            .unwrap();
        assert_eq!(
            validate_request(&r, &cat).unwrap_err().to_string(),
            "attribute[condition] is invalid: \"stolen\" is not a valid singlevaluelist"
        );
        let r = parse_new_request("service_code=P0101&address_id=1&attribute[condition][]=missing&attribute[condition][]=damaged").unwrap();
        assert_eq!(
            validate_request(&r, &cat).unwrap_err().to_string(),
            "attribute[condition] was given more than once"
        );
        let r = parse_new_request("service_code=E0505&address_string=x").unwrap();
        validate_request(&r, &cat).unwrap();
    }
}
