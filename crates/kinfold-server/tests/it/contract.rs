#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The OpenAPI document as a contract. Every answer any test of this suite gets from a
//! documented operation goes through [`check`] (`TestApp::send` calls it): its status must be
//! one the operation declares, and its JSON body must be valid against the schema declared for
//! that status, with no field the schema does not name.
//!
//! Bodies are checked with the `jsonschema` crate under JSON Schema 2020-12, the dialect of
//! OpenAPI 3.1, resolving `#/components/schemas/...` against the document itself.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};

pub struct Contract {
    pub doc: Value,
    /// The document's schemas, made strict: see [`strict`].
    components: Value,
    validators: Mutex<HashMap<(String, String, String), Arc<jsonschema::Validator>>>,
    /// (method, path template, status) of every answer checked, for the coverage test.
    pub seen: Mutex<BTreeSet<(String, String, u16)>>,
}

pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc = serde_json::to_value(kinfold_server::api::openapi::document()).unwrap();
        let mut components = doc["components"].clone();
        strict(&mut components);
        Contract {
            doc,
            components,
            validators: Mutex::default(),
            seen: Mutex::default(),
        }
    })
}

/// Every documented operation: (method, path template).
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item[method].is_object() {
                out.push((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// The path template a concrete path matches, preferring literal segments
/// (`/api/v1/sessions/mfa` over `/api/v1/sessions/{id}`), among those with `method`.
pub fn template_for(doc: &Value, method: &str, path: &str) -> Option<String> {
    let want: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .iter()
        .filter(|(_, item)| item[method].is_object())
        .filter_map(|(template, _)| {
            let segs: Vec<&str> = template.split('/').collect();
            if segs.len() != want.len() {
                return None;
            }
            let mut literal = 0;
            for (t, w) in segs.iter().zip(&want) {
                if t.starts_with('{') {
                    continue;
                }
                if t != w {
                    return None;
                }
                literal += 1;
            }
            Some((literal, template.clone()))
        })
        .max()
        .map(|(_, t)| t)
}

/// Makes every object schema refuse fields it does not name (`unevaluatedProperties: false`),
/// so an answer with an undeclared field fails. A schema that is one part of an `allOf` cannot
/// refuse the other parts' fields, so there the `allOf` as a whole refuses them instead (and
/// such a part, used alone, stays open).
fn strict(components: &mut Value) {
    let mut parts = HashSet::new();
    collect_all_of_parts(components, &mut parts);
    if let Some(schemas) = components["schemas"].as_object_mut() {
        for (name, schema) in schemas.iter_mut() {
            let reference = format!("#/components/schemas/{name}");
            close(schema, parts.contains(&reference));
        }
    }
}

fn collect_all_of_parts(v: &Value, parts: &mut HashSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(items)) = map.get("allOf") {
                for r in items.iter().filter_map(|i| i["$ref"].as_str()) {
                    parts.insert(r.to_owned());
                }
            }
            map.values().for_each(|x| collect_all_of_parts(x, parts));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_all_of_parts(x, parts)),
        _ => {}
    }
}

fn close(schema: &mut Value, is_part: bool) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if map.contains_key("allOf") {
        map.insert("unevaluatedProperties".into(), json!(false));
        if let Some(Value::Array(items)) = map.get_mut("allOf") {
            items.iter_mut().for_each(open_part);
        }
    } else if map.contains_key("properties") && !is_part {
        map.insert("unevaluatedProperties".into(), json!(false));
    }
    for key in ["properties", "items", "oneOf", "anyOf"] {
        match map.get_mut(key) {
            Some(Value::Object(props)) if key == "properties" => {
                props.values_mut().for_each(|p| close(p, false));
            }
            Some(Value::Array(items)) => items.iter_mut().for_each(|i| close(i, false)),
            Some(item @ Value::Object(_)) => close(item, false),
            _ => {}
        }
    }
}

/// An inline part of an `allOf`: its own nested objects are closed, itself is not.
fn open_part(part: &mut Value) {
    if let Some(Value::Object(props)) = part.get_mut("properties") {
        props.values_mut().for_each(|p| close(p, false));
    }
}

impl Contract {
    fn validator(
        &self,
        method: &str,
        template: &str,
        status: &str,
    ) -> Option<Arc<jsonschema::Validator>> {
        let key = (method.to_owned(), template.to_owned(), status.to_owned());
        if let Some(v) = self.validators.lock().unwrap().get(&key) {
            return Some(v.clone());
        }
        let declared = &self.doc["paths"][template][method]["responses"][status]["content"]
            ["application/json"]["schema"];
        let mut root = declared.as_object()?.clone();
        root.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        root.insert("components".into(), self.components.clone());
        let v = Arc::new(
            jsonschema::draft202012::new(&Value::Object(root))
                .unwrap_or_else(|e| panic!("{method} {template} {status}: schema: {e}")),
        );
        self.validators.lock().unwrap().insert(key, v.clone());
        Some(v)
    }
}

/// Checks one answer against the document, if the request was to a documented operation.
pub fn check(method: &str, path: &str, status: u16, content_type: &str, body: &[u8]) {
    let c = contract();
    let method = method.to_ascii_lowercase();
    let path = path.split('?').next().unwrap_or(path);
    let Some(template) = template_for(&c.doc, &method, path) else {
        return;
    };
    let op = &c.doc["paths"][&template][&method];
    let status_key = status.to_string();
    assert!(
        op["responses"][&status_key].is_object(),
        "{method} {path} answered {status}, which {template} does not declare: {}",
        String::from_utf8_lossy(body)
    );
    c.seen
        .lock()
        .unwrap()
        .insert((method.clone(), template.clone(), status));
    let declared = &op["responses"][&status_key]["content"];
    if declared.is_null() {
        assert!(
            body.is_empty(),
            "{method} {path} {status}: no body declared, got {}",
            String::from_utf8_lossy(body)
        );
        return;
    }
    if !content_type.starts_with("application/json") {
        panic!("{method} {path} {status}: declared JSON, got {content_type}");
    }
    let value: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: not JSON ({e})"));
    let Some(validator) = c.validator(&method, &template, &status_key) else {
        return;
    };
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: the body does not match its declared schema:\n{}\nbody: {value}",
        errors.join("\n")
    );
}
