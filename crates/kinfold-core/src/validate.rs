//! Input checks shared by every entry point. Each error names the field at fault.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::CoreError;

pub fn email(field: &'static str, raw: &str) -> Result<String, CoreError> {
    let e = raw.trim().to_lowercase();
    let bad = |m: &str| Err(CoreError::invalid(field, m));
    if e.is_empty() || e.len() > 254 {
        return bad("must be a well-formed email address of at most 254 characters");
    }
    let Some((local, domain)) = e.split_once('@') else {
        return bad("must be a well-formed email address");
    };
    let ok_local = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let ok_domain = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok_local && ok_domain {
        Ok(e)
    } else {
        bad("must be a well-formed email address")
    }
}

pub fn name(field: &'static str, raw: &str) -> Result<String, CoreError> {
    let n = raw.trim();
    let len = n.chars().count();
    if len == 0 || len > 100 {
        return Err(CoreError::invalid(field, "must be 1 to 100 characters"));
    }
    if n.chars()
        .any(|c| c.is_control() || "<>{}[]\\|^`\"".contains(c))
    {
        return Err(CoreError::invalid(
            field,
            "may hold letters, digits, spaces and . , ' - ( ) & only",
        ));
    }
    // Format characters (Unicode category Cf: U+200B zero width space, U+202E right-to-left
    // override, U+2066 isolates, soft hyphen...) are invisible or reorder what follows, so one
    // name could show as another (Unicode TR #36 §2, UTS #39 §3).
    if n.chars().any(invisible) {
        return Err(CoreError::invalid(
            field,
            "may not contain invisible or direction-changing characters",
        ));
    }
    Ok(n.to_owned())
}

/// Characters that show as nothing or reorder what follows: format characters (Cf), line and
/// paragraph separators, private-use and unassigned code points, and the default-ignorable or
/// blank-looking ones outside Cf (Hangul fillers, the combining grapheme joiner, variation
/// selectors, Mongolian free variation selectors, Khmer inherent vowels, the blank Braille
/// pattern), after Unicode's DerivedCoreProperties and UTS #39 §3.
fn invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
    ) || matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// The bidi embeddings, overrides and isolates, which reorder the text after them: in free
/// text they make a subject or an address show other than it reads (CVE-2021-42574). The
/// direction marks (LRM, RLM, ALM) reorder nothing and stay allowed there, since Arabic and
/// Hebrew text mixed with Latin needs them.
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A postal address: 1 to 300 characters, lines allowed, no other control characters.
pub fn postal_address(field: &'static str, raw: &str) -> Result<String, CoreError> {
    let a = text(field, raw, 300)?;
    if a.is_empty() {
        return Err(CoreError::invalid(field, "may not be empty"));
    }
    Ok(a)
}

/// An IANA time-zone name known to the bundled time-zone database (`Europe/Berlin`, `UTC`).
pub fn time_zone(field: &'static str, raw: &str) -> Result<String, CoreError> {
    let name = raw.trim();
    if name.is_empty() || name.len() > 64 || jiff::tz::TimeZone::get(name).is_err() {
        return Err(CoreError::invalid(
            field,
            "must be an IANA time-zone name, such as Europe/Berlin or America/Chicago",
        ));
    }
    Ok(name.to_owned())
}

/// A whole number as a form sends it: empty is none (the field's default); anything else
/// must be digits only, at most nine of them.
pub fn whole_number(field: &'static str, raw: &str) -> Result<Option<u32>, CoreError> {
    let n = raw.trim();
    if n.is_empty() {
        return Ok(None);
    }
    if n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CoreError::invalid(field, "must be a whole number"));
    }
    n.parse()
        .map(Some)
        .map_err(|_| CoreError::invalid(field, "must be a whole number"))
}

pub fn slug(field: &'static str, raw: &str) -> Result<String, CoreError> {
    let ok = (2..=63).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !raw.starts_with('-')
        && !raw.ends_with('-')
        && !raw.contains("--");
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(CoreError::invalid(
            field,
            "must be 2 to 63 lowercase letters, digits and single hyphens",
        ))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_reason_is_visible_one_line_and_keeps_its_order() {
        assert_eq!(reason("reason", "  late bus ").unwrap(), "late bus");
        // Hebrew with a direction mark is a reason like any other.
        assert!(reason("reason", "\u{5D0}\u{200F} bus").is_ok());
        for bad in [
            "",
            "   ",
            "\u{200B}",
            "\u{200B} \u{FEFF}",
            "late\nbus",
            "late \u{202E}sub",
            "\u{2066}x",
        ] {
            assert!(reason("reason", bad).is_err(), "{bad:?}");
        }
        assert!(reason("reason", &"x".repeat(300)).is_ok());
        assert!(reason("reason", &"x".repeat(301)).is_err());
    }

    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email("email", " Ana@Example.ORG ").ok().as_deref(),
            Some("ana@example.org")
        );
        for bad in [
            "", "a", "a@b", "@b.c", "a@.c", "a@b..c", "a b@c.d", "a@-b.c", "a@b\n.c", ".a@b.c",
            "a@b_c.d",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_and_slugs() {
        assert!(name("name", "Ana María O'Neil").is_ok());
        assert!(name("name", "").is_err());
        assert!(name("name", "<script>").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(name("name", "Zoë Ōtsuka-Nguyễn").is_ok());
        assert!(name("name", "Đặng Thị Mỹ").is_ok());
        assert!(
            name("name", "محمد").is_ok(),
            "right-to-left letters are letters"
        );
        assert!(slug("slug", "maple-grove").is_ok());
        for bad in ["", "a", "Maple", "-a", "a-", "a--b", "a_b", "a b"] {
            assert!(slug("slug", bad).is_err(), "{bad:?}");
        }
    }
}

/// A calendar date `YYYY-MM-DD`.
pub fn date(field: &'static str, raw: &str) -> Result<time::Date, CoreError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw.trim(), &fmt)
        .map_err(|_| CoreError::invalid(field, "must be a date as YYYY-MM-DD"))
}

/// The years a child's record date (birth, enrollment, leaving) may fall in.
const RECORD_YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// A date in a child's record (`enrolled_on`, `left_on`): a real date from 1900 to 2200, so a
/// typo such as `0202-09-01` or `20244-09-01` is refused rather than stored and sorted on.
pub fn record_date(field: &'static str, raw: &str) -> Result<String, CoreError> {
    let d = date(field, raw)?;
    if !RECORD_YEARS.contains(&d.year()) {
        return Err(CoreError::invalid(field, "must be from 1900 to 2200"));
    }
    Ok(d.to_string())
}

/// A date of birth: a real date from 1900 to 2200, not in the future, at most 25 years ago.
pub fn date_of_birth(
    field: &'static str,
    raw: &str,
    today: time::Date,
) -> Result<String, CoreError> {
    let d = date(field, raw)?;
    if !RECORD_YEARS.contains(&d.year()) {
        return Err(CoreError::invalid(field, "must be from 1900 to 2200"));
    }
    if d > today {
        return Err(CoreError::invalid(field, "cannot be in the future"));
    }
    if today.year() - d.year() > 25 {
        return Err(CoreError::invalid(field, "is more than 25 years ago"));
    }
    Ok(d.to_string())
}

/// E.164: `+`, then 8 to 15 digits, the first not 0 (ITU-T E.164 §6).
pub fn phone(field: &'static str, raw: &str) -> Result<String, CoreError> {
    let p = raw.trim();
    let digits = p.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(p.to_owned())
    } else {
        Err(CoreError::invalid(
            field,
            "must be an E.164 phone number, like +14155550123",
        ))
    }
}

/// Why a record was corrected (a child's attendance, a staff member's clock): 1 to 300
/// characters on one line, something visible among them, and nothing that reorders the text
/// (the reason is what an inspector reads beside the change).
pub fn reason(field: &'static str, raw: &str) -> Result<String, CoreError> {
    let r = raw.trim();
    let visible = r.chars().any(|c| !c.is_whitespace() && !invisible(c));
    if !visible || r.chars().count() > 300 || r.chars().any(|c| c.is_control() || bidi_control(c)) {
        return Err(CoreError::invalid(
            field,
            "say why, in 1 to 300 characters on one line",
        ));
    }
    Ok(r.to_owned())
}

/// Free text (notes): at most `max` characters, no control characters but newlines and tabs.
pub fn text(field: &'static str, raw: &str, max: usize) -> Result<String, CoreError> {
    if raw.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(CoreError::invalid(
            field,
            "may not contain control characters",
        ));
    }
    if raw.chars().any(bidi_control) {
        return Err(CoreError::invalid(
            field,
            "may not contain direction-changing characters",
        ));
    }
    Ok(raw.trim().to_owned())
}

#[cfg(test)]
mod record_tests {
    use super::*;

    /// Issue 12, item 13: U+202E (right-to-left override) and U+200B (zero width space) were
    /// accepted, so "Ana\u{202E}nilrak" showed as another name and "Ana\u{200B}" was a second Ana.
    #[test]
    fn names_refuse_invisible_and_direction_changing_characters() {
        for c in [
            '\u{202E}',
            '\u{202D}',
            '\u{200B}',
            '\u{200E}',
            '\u{200F}',
            '\u{2066}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{2060}',
            '\u{061C}',
            '\u{E0041}',
            // Blank or default-ignorable outside Cf, and separators (the review after the fix).
            '\u{3164}',
            '\u{115F}',
            '\u{FFA0}',
            '\u{2800}',
            '\u{034F}',
            '\u{FE0F}',
            '\u{E000}',
        ] {
            for raw in [
                format!("Ana{c}"),
                format!("{c}Ana"),
                format!("A{c}na"),
                c.to_string(),
            ] {
                let err = name("given_name", &raw).err();
                assert!(
                    matches!(
                        err,
                        Some(CoreError::Invalid {
                            field: "given_name",
                            ..
                        })
                    ),
                    "U+{:04X} in {raw:?}: {err:?}",
                    u32::from(c)
                );
            }
        }
        // Line and paragraph separators: trimmed at the ends like spaces, refused inside.
        for c in ['\u{2028}', '\u{2029}'] {
            assert!(name("given_name", &format!("A{c}na")).is_err());
        }
        let msg = name("name", "Ana\u{202E}").err().map(|e| e.to_string());
        assert!(
            msg.as_deref().unwrap_or("").contains("invisible"),
            "{msg:?}"
        );
    }

    /// Free text (a subject, a grant's reason, a postal address in every footer) may hold any
    /// letters, but no bidi control that makes it show other than it reads.
    #[test]
    fn text_refuses_direction_changing_characters() {
        for c in ['\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}'] {
            let raw = format!("12 Elm Street{c}\nSpringfield");
            assert!(
                matches!(
                    text("postal_address", &raw, 300),
                    Err(CoreError::Invalid { .. })
                ),
                "U+{:04X}",
                u32::from(c)
            );
        }
        assert!(text(
            "subject",
            "Café — 12 Rue de l'Église\nمرحبا\u{200F} (A)",
            300
        )
        .is_ok());
        assert!(name("given_name", "Zoë-Åsa O'Neil").is_ok());
        assert!(name("given_name", "محمد").is_ok());
    }

    /// Birth and enrollment dates outside 1900..=2200 are typos, whatever the clock says.
    #[test]
    fn record_dates_stay_within_1900_to_2200() {
        assert_eq!(
            record_date("enrolled_on", "2025-09-01").ok().as_deref(),
            Some("2025-09-01")
        );
        assert!(record_date("enrolled_on", "1900-01-01").is_ok());
        assert!(record_date("left_on", "2200-12-31").is_ok());
        for bad in [
            "1899-12-31",
            "0001-01-01",
            "0202-09-01",
            "2201-01-01",
            "9999-12-31",
        ] {
            assert!(
                matches!(
                    record_date("enrolled_on", bad),
                    Err(CoreError::Invalid {
                        field: "enrolled_on",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        // A clock far off either way does not widen the range.
        let late = time::macros::date!(2210 - 06 - 01);
        assert!(date_of_birth("date_of_birth", "2201-01-01", late).is_err());
        assert!(date_of_birth("date_of_birth", "2200-01-01", late).is_ok());
        let early = time::macros::date!(1905 - 06 - 01);
        assert!(date_of_birth("date_of_birth", "1899-12-31", early).is_err());
        assert!(date_of_birth("date_of_birth", "1900-01-01", early).is_ok());
    }

    #[test]
    fn dates_and_phones() {
        let today = time::macros::date!(2026 - 11 - 22);
        assert_eq!(
            date_of_birth("date_of_birth", "2023-02-28", today)
                .ok()
                .as_deref(),
            Some("2023-02-28")
        );
        for bad in [
            "2023-02-30",
            "2027-01-01",
            "1990-01-01",
            "23-02-01",
            "yesterday",
            "",
        ] {
            assert!(date_of_birth("date_of_birth", bad, today).is_err(), "{bad}");
        }
        assert!(phone("phone", "+14155550123").is_ok());
        for bad in [
            "4155550123",
            "+0155550123",
            "+1 415 555",
            "+1415555012345678",
            "+44abc",
        ] {
            assert!(phone("phone", bad).is_err(), "{bad}");
        }
        assert!(text("notes", "line\nline", 20).is_ok());
        assert!(text("notes", "\u{7}", 20).is_err());
    }
}
