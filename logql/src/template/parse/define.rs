//! Named templates: `{{define "name"}}...{{end}}` at the top level,
//! `{{template "name" pipeline}}` and `{{block "name" pipeline}}...{{end}}`
//! (Go's `parseDefinition`, `templateControl` and `blockControl`).

use super::super::ast::Node;
use super::super::lex::Tok;
use super::super::literal::unquote;
use super::{ListEnd, PResult, Parser};

impl Parser<'_> {
    /// The template name after `template`, `block` or `define`.
    fn template_name(&mut self, context: &str) -> PResult<(usize, String)> {
        let t = self.next_non_space();
        match t.typ {
            Tok::String | Tok::RawString => match unquote(&t.val) {
                Some(name) => Ok((t.pos, name)),
                None => Err(self.err("invalid syntax".into())),
            },
            _ => Err(self.unexpected(&t, context)),
        }
    }

    /// Parses a template body in a fresh scope (as Go parses a new tree).
    fn body(&mut self, name: String, context: &str) -> PResult<()> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let range_depth = std::mem::take(&mut self.range_depth);
        let r = self.item_list();
        self.vars = vars;
        self.range_depth = range_depth;
        let (list, end) = r?;
        if let ListEnd::Else = end {
            return Err(self.err(format!("unexpected {{{{else}}}} in {context}")));
        }
        let empty = list
            .iter()
            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
        match self.defs.iter_mut().find(|(n, _)| *n == name) {
            Some(old) if !empty => {
                if !old
                    .1
                    .iter()
                    .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
                {
                    return Err(self.err(format!(
                        "template: multiple definition of template {}",
                        super::super::gofmt::quote(&name)
                    )));
                }
                old.1 = list;
            }
            Some(_) => {}
            None => self.defs.push((name, list)),
        }
        Ok(())
    }

    /// `{{define "name"}}` (the keyword already read) up to its `{{end}}`.
    pub(super) fn definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let (_, name) = self.template_name(context)?;
        self.expect(Tok::RightDelim, context)?;
        self.body(name, context)
    }

    /// `{{template "name"}}` or `{{template "name" pipeline}}`.
    pub(super) fn template_call(&mut self) -> PResult<Node> {
        let context = "template clause";
        let (pos, name) = self.template_name(context)?;
        let pipe = if self.next_non_space().typ == Tok::RightDelim {
            None
        } else {
            self.backup();
            Some(self.pipeline(context, Tok::RightDelim)?)
        };
        Ok(Node::Template {
            pos,
            name: name.into(),
            pipe,
        })
    }

    /// `{{block "name" pipeline}}...{{end}}`: a definition used in place.
    pub(super) fn block(&mut self) -> PResult<Node> {
        let context = "block clause";
        let (pos, name) = self.template_name(context)?;
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        self.body(name.clone(), context)?;
        Ok(Node::Template {
            pos,
            name: name.into(),
            pipe: Some(pipe),
        })
    }
}
