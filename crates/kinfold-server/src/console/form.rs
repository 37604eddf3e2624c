//! Form fields as every console page draws them: a label for each, the field's error beside it
//! (with `aria-invalid` and `aria-describedby`, so a screen reader reads it with the field),
//! and the value the user typed kept when the form comes back with an error.

use maud::{html, Markup};

use crate::ApiError;

/// The error to show beside the field named `name`, if `err` is about it.
fn error_for<'e>(err: Option<&'e ApiError>, name: &str) -> Option<&'e ApiError> {
    err.filter(|e| e.field() == Some(name))
}

/// One field's error line, under the ID the field points to.
fn field_error(id: &str, e: &ApiError) -> Markup {
    html! { p.field-error id={ (id) "-error" } { (e.field_message()) } }
}

/// Attributes shared by every input: `form` names the form (an ID prefix), `name` the field.
pub struct Field<'a> {
    pub form: &'a str,
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    pub err: Option<&'a ApiError>,
}

impl Field<'_> {
    fn id(&self) -> String {
        format!("{}-{}", self.form, self.name.replace('_', "-"))
    }

    /// A text-like input (`kind`: `text`, `number`, `email`, ...), with an optional hint
    /// under its label.
    pub fn input(&self, kind: &str, required: bool, hint: Option<&str>) -> Markup {
        let id = self.id();
        let err = error_for(self.err, self.name);
        html! {
            label for=(id) { (self.label) }
            @if let Some(h) = hint { p.hint id={ (id) "-hint" } { (h) } }
            input id=(id) name=(self.name) type=(kind) value=(self.value) required[required]
                aria-invalid=[err.map(|_| "true")]
                aria-describedby=[err.map(|_| format!("{id}-error")).or(hint.map(|_| format!("{id}-hint")))];
            @if let Some(e) = err { (field_error(&id, e)) }
        }
    }

    /// A multi-line text field.
    pub fn textarea(&self) -> Markup {
        let id = self.id();
        let err = error_for(self.err, self.name);
        html! {
            label for=(id) { (self.label) }
            textarea id=(id) name=(self.name) rows="4"
                aria-invalid=[err.map(|_| "true")]
                aria-describedby=[err.map(|_| format!("{id}-error"))] { (self.value) }
            @if let Some(e) = err { (field_error(&id, e)) }
        }
    }

    /// A select of `(value, label)` options, the current value selected.
    pub fn select(&self, options: &[(&str, &str)]) -> Markup {
        let id = self.id();
        let err = error_for(self.err, self.name);
        html! {
            label for=(id) { (self.label) }
            select id=(id) name=(self.name)
                aria-invalid=[err.map(|_| "true")]
                aria-describedby=[err.map(|_| format!("{id}-error"))] {
                @for (v, l) in options {
                    option value=(v) selected[*v == self.value] { (l) }
                }
            }
            @if let Some(e) = err { (field_error(&id, e)) }
        }
    }
}

/// The line at the top of a form that came back with an error: the error itself when it is
/// not about one of `fields`, else a pointer to the field marked below it.
pub fn form_error(err: Option<&ApiError>, fields: &[&str]) -> Markup {
    match err {
        Some(e) if e.field().is_some_and(|f| fields.contains(&f)) => html! {
            p.error role="alert" { "Nothing was saved: correct the field marked below." }
        },
        Some(e) => crate::console::pages::error_box(e),
        None => html! {},
    }
}

/// What an edit form shows when it comes back: what the user sent, so a mistake is corrected
/// rather than typed again; but after a stale refusal, the record as it is now (`stored`),
/// with its current version, so the user sees the change they missed and their next save is
/// made over it, not refused again.
pub(crate) fn redrawn<'f, F>(sent: Option<&'f F>, stored: &'f F, err: Option<&ApiError>) -> &'f F {
    match sent {
        Some(sent) if !err.is_some_and(ApiError::is_stale) => sent,
        _ => stored,
    }
}

/// The version of the record a console form was drawn from (its hidden `version` field), the
/// one rule for every edit page. Each page sends it, so a form without one, or with one that is
/// not a number, is older than the page: as no record is at version 0 (every version starts at
/// 1), it is refused as stale (`409`), after the role and tenant checks, never saved over
/// whatever is there now. (The API, whose older clients send none, keeps `version` optional.)
pub(crate) fn drawn_version(field: &str) -> Option<i64> {
    Some(field.trim().parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::drawn_version;

    #[test]
    fn a_form_without_its_version_is_never_current() {
        assert_eq!(drawn_version("7"), Some(7));
        assert_eq!(drawn_version(" 7 "), Some(7));
        for missing in ["", "seven", "7.0", "\u{200b}7", "99999999999999999999"] {
            assert_eq!(drawn_version(missing), Some(0), "{missing:?}");
        }
    }
}
