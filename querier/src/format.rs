//! `GET|POST /loki/api/v1/format_query`: a query printed back in its
//! canonical form (`{"status":"success","data":"<query>"}`), or a
//! plain-text 400 with the parse error. Loki pretty-prints long queries
//! over several lines; Sluice prints the one-line canonical form.

use std::sync::Arc;

use axum::extract::State;

use axum::response::Response;

use crate::error::Result;
use crate::http::{respond, HttpState, Req};
use crate::json;
use crate::params::Params;

pub async fn format_query(State(_): State<Arc<HttpState>>, req: Req) -> Response {
    respond(format(&req.params))
}

fn format(p: &Params) -> Result<String> {
    let expr = sluice_logql::parser::parse_expr(p.get("query").unwrap_or(""))?;
    let mut o = String::from(r#"{"status":"success","data":"#);
    json::write_str(&mut o, &expr.to_string());
    o.push('}');
    Ok(o)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prints_the_canonical_form() {
        let p = Params::parse(
            Some("query=sum+by(app)(rate(%7Bapp%3D%22a%22%7D%7C%3D%22x%22%5B5m%5D))"),
            b"",
        );
        let v: serde_json::Value = serde_json::from_str(&format(&p).unwrap()).unwrap();
        assert_eq!(v["status"], "success");
        assert_eq!(v["data"], r#"sum by (app)(rate({app="a"} |= "x"[5m]))"#);
        let e = format(&Params::parse(Some("query=%7Bapp"), b"")).unwrap_err();
        assert_eq!(e.status(), 400);
    }
}
