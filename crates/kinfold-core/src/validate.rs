//! Input checks shared by every entry point. Each error names the field at fault.

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
    Ok(n.to_owned())
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
        assert!(slug("slug", "maple-grove").is_ok());
        for bad in ["", "a", "Maple", "-a", "a-", "a--b", "a_b", "a b"] {
            assert!(slug("slug", bad).is_err(), "{bad:?}");
        }
    }
}
