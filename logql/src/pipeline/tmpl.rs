//! The bridge between pipeline stages and the Go-template engine: stages
//! render through [`Tmpl`], which sees labels, `__line__` and
//! `__timestamp__` through [`TmplData`].
//!
//! Until `crate::template` lands this holds a minimal renderer for plain
//! `{{.label}}` / `{{ __line__ }}` templates; anything else is rejected at
//! pipeline build with a clear error.

/// What a template can read while rendering one entry.
pub(crate) trait TmplData {
    fn label(&self, name: &str) -> Option<&str>;
    fn line(&self) -> &str;
    // read by `__timestamp__` once the full template engine is wired in
    #[allow(dead_code)]
    fn timestamp_ns(&self) -> i64;
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Label(String),
    Line,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct Tmpl {
    parts: Vec<Part>,
}

impl Tmpl {
    pub(crate) fn parse(src: &str) -> Result<Tmpl, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| "template: unclosed action".to_string())?;
            let action = after[..close].trim();
            if action == "__line__" {
                parts.push(Part::Line);
            } else if let Some(name) = action.strip_prefix('.') {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("template: unsupported action {{{{{action}}}}}"));
                }
                parts.push(Part::Label(name.to_string()));
            } else {
                return Err(format!("template: unsupported action {{{{{action}}}}}"));
            }
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Tmpl { parts })
    }

    pub(crate) fn render(&self, data: &dyn TmplData, out: &mut String) -> Result<(), String> {
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Label(n) => out.push_str(data.label(n).unwrap_or("")),
                Part::Line => out.push_str(data.line()),
            }
        }
        Ok(())
    }

    /// Labels the template reads (`.name` fields).
    pub(crate) fn referenced_labels(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Label(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }
}
