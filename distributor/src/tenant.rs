//! Tenant id (`X-Scope-OrgID`) rules, as Loki's (dskit's `tenant.TenantID`
//! and `ValidTenantID`): letters, digits and `!-_.*'()`, at most 150 bytes,
//! not `.` or `..`, and a single tenant for pushes.

use crate::error::PushError;

/// Longest tenant id accepted.
pub const MAX_TENANT_ID_LENGTH: usize = 150;

/// Checks an `X-Scope-OrgID` value for a push; `None` or empty is a missing
/// tenant (401), anything else invalid is 400.
pub fn validate_tenant_id(org_id: Option<&str>) -> Result<&str, PushError> {
    let id = match org_id {
        None | Some("") => return Err(PushError::MissingTenant),
        Some(id) => id,
    };
    if id.contains('|') {
        let parts: Vec<&str> = id.split('|').filter(|p| !p.is_empty()).collect();
        if parts.len() > 1 {
            return Err(PushError::InvalidTenant(
                "multiple org IDs present".to_string(),
            ));
        }
    }
    if let Some(c) = id.chars().find(|c| !is_supported(*c)) {
        return Err(PushError::InvalidTenant(format!(
            "tenant ID '{id}' contains unsupported character '{c}'"
        )));
    }
    if id.len() > MAX_TENANT_ID_LENGTH {
        return Err(PushError::InvalidTenant(format!(
            "tenant ID is too long: max {MAX_TENANT_ID_LENGTH} characters"
        )));
    }
    if id == "." || id == ".." {
        return Err(PushError::InvalidTenant(
            "tenant ID is '.' or '..'".to_string(),
        ));
    }
    Ok(id)
}

fn is_supported(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tenant_rules() {
        assert_eq!(
            validate_tenant_id(Some("team-a_1.(x)*!'")).unwrap(),
            "team-a_1.(x)*!'"
        );
        assert_eq!(
            validate_tenant_id(None).unwrap_err(),
            PushError::MissingTenant
        );
        assert_eq!(validate_tenant_id(Some("")).unwrap_err().status(), 401);
        let e = validate_tenant_id(Some("a/b")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tenant ID 'a/b' contains unsupported character '/'"
        );
        assert_eq!(e.status(), 400);
        assert_eq!(
            validate_tenant_id(Some("a|b")).unwrap_err().to_string(),
            "multiple org IDs present"
        );
        assert_eq!(
            validate_tenant_id(Some("..")).unwrap_err().to_string(),
            "tenant ID is '.' or '..'"
        );
        let long = "x".repeat(151);
        assert_eq!(
            validate_tenant_id(Some(&long)).unwrap_err().to_string(),
            "tenant ID is too long: max 150 characters"
        );
        assert!(validate_tenant_id(Some(&"x".repeat(150))).is_ok());
    }
}
