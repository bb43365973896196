//! A blocking WebSocket client for `/loki/api/v1/tail`, reading frames the
//! way Grafana does.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

pub struct Tail {
    pub ws: WebSocket<TcpStream>,
}

/// One entry of a tail frame: (stream labels as `k=v,…`, ns, line).
pub type TailEntry = (String, i64, String);

/// How a read ended when it did not return a frame.
#[derive(Debug)]
pub enum TailEnd {
    Timeout,
    Closed(Option<(u16, String)>),
}

/// Opens a tail; `headers` are added to the upgrade request.
pub fn connect(
    base: &str,
    query: &str,
    extra: &[(&str, String)],
    headers: &[(&str, &str)],
) -> Tail {
    let mut url = format!(
        "{}/loki/api/v1/tail?query={}",
        base.replacen("http://", "ws://", 1),
        urlencode(query)
    );
    for (k, v) in extra {
        url.push_str(&format!("&{k}={}", urlencode(v)));
    }
    let mut req = url.as_str().into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            tungstenite::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let host = base.trim_start_matches("http://");
    let stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (ws, resp) = tungstenite::client(req, stream).unwrap();
    assert_eq!(resp.status().as_u16(), 101);
    Tail { ws }
}

pub fn urlencode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

impl Tail {
    /// The next text frame as JSON, or why there is none within `limit`.
    pub fn next_frame(&mut self, limit: Duration) -> Result<serde_json::Value, TailEnd> {
        let t0 = Instant::now();
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
                Ok(Message::Close(f)) => {
                    return Err(TailEnd::Closed(
                        f.map(|f| (u16::from(f.code), f.reason.to_string())),
                    ))
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if t0.elapsed() > limit {
                        return Err(TailEnd::Timeout);
                    }
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Err(TailEnd::Closed(None))
                }
                Err(e) => panic!("tail read failed: {e}"),
            }
        }
    }

    /// Reads frames until `n` entries arrived (or panics after `limit`).
    pub fn entries(&mut self, n: usize, limit: Duration) -> Vec<TailEntry> {
        let t0 = Instant::now();
        let mut out = Vec::new();
        while out.len() < n {
            let left = limit.saturating_sub(t0.elapsed());
            match self.next_frame(left) {
                Ok(f) => out.extend(frame_entries(&f)),
                Err(e) => panic!("after {} of {n} entries: {e:?}", out.len()),
            }
        }
        out
    }

    pub fn close(mut self) {
        let _ = self.ws.close(Some(tungstenite::protocol::CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }));
        let _ = self.ws.flush();
    }
}

/// Entries of a frame, checking Loki's shape: ≤100 entries, one per
/// `streams` element, nanosecond-string timestamps of ≥7 digits.
pub fn frame_entries(f: &serde_json::Value) -> Vec<TailEntry> {
    let streams = f["streams"].as_array().expect("streams array");
    assert!(streams.len() <= 100, "{} entries in a frame", streams.len());
    let mut out = Vec::new();
    for s in streams {
        let values = s["values"].as_array().unwrap();
        assert_eq!(values.len(), 1, "one entry per streams element");
        let ts = values[0][0].as_str().expect("ns timestamp string");
        assert!(ts.len() >= 7);
        out.push((
            super::harness::label_string(&s["stream"]),
            ts.parse().unwrap(),
            values[0][1].as_str().unwrap().to_string(),
        ));
    }
    out
}
